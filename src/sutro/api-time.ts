import type { ApiTime } from './job-fields.js';

/**
 * The API's datetimes, read as PostgreSQL will store them: the job validator (job.ts) reads every
 * datetime field with this, and the command line its datetime options. No zod here, so that a
 * command that only reads an option does not load the validator.
 */

const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Reads an ISO 8601 datetime, or null when it is not one. Without an offset it is read as UTC: the
 * API prints UTC, and reading it in the server's (or the database session's) zone would shift every
 * figure by that zone's offset, so the stored text gets a Z. The fields are checked against the
 * calendar because `Date` rolls 2026-02-30 over into March rather than refusing it, and takes year
 * 0000, which PostgreSQL does not have, as 1 BC.
 */
export function parseApiTime(text: string): ApiTime | null {
  const fields = ISO_DATETIME.exec(text);
  if (fields === null || !isOnCalendar(fields)) return null;
  const zone = fields[8];
  const offset = zone === undefined ? 0 : offsetMinutes(zone);
  if (offset === null) return null;
  const ms = utcMs(fields) - offset * 60_000;
  // An offset can carry the instant out of years 1-9999, which PostgreSQL refuses.
  if (ms < FIRST_MS || ms >= AFTER_LAST_MS) return null;
  // PostgreSQL reads "+05" as "+05:00" too; the Z keeps the session's zone out of a time without one.
  const normalized = zone === undefined ? `${text}Z` : zone.length === 3 ? `${text}:00` : text;
  return { text: normalized, ms };
}

/** 0001-01-01 and 10000-01-01, UTC: the instants PostgreSQL's timestamptz holds lie in between. */
const FIRST_MS = -62_135_596_800_000;
const AFTER_LAST_MS = 253_402_300_800_000;

/**
 * 400 Gregorian years are exactly 146,097 days, whatever the years: Date.UTC reads years 0-99 as
 * 1900-1999, so the instant is computed 400 years later and moved back.
 */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/**
 * The instant of the wall-clock time that ISO_DATETIME matched and isOnCalendar accepted, read as
 * UTC (the fraction cut to milliseconds, 24:00 the next midnight), from the fields already matched.
 * Date.parse of the text took a fifth of parseJob's time, and read "0001-01-01 00:00Z" (a space for
 * the T) as 2001: V8 takes a time that is not strictly ISO to its legacy parser, which reads years
 * below 100 as two-digit ones.
 */
function utcMs(fields: RegExpExecArray): number {
  const fraction = fields[7] === undefined ? 0 : Number(`${fields[7].slice(1)}00`.slice(0, 3));
  return (
    Date.UTC(
      Number(fields[1]) + 400,
      Number(fields[2]) - 1,
      Number(fields[3]),
      Number(fields[4]),
      Number(fields[5]),
      fields[6] === undefined ? 0 : Number(fields[6]),
      fraction,
    ) - FOUR_CENTURIES_MS
  );
}

/**
 * Minutes east of UTC of an offset ISO_DATETIME matched ("Z", "+05", "+0530", "+05:30"), or null
 * past 15:59, which PostgreSQL refuses ("time zone displacement out of range"): the job is rejected
 * here, naming its field, rather than failing its page.
 */
function offsetMinutes(zone: string): number | null {
  if (zone === 'Z' || zone === 'z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = zone.length === 3 ? 0 : Number(zone.slice(-2));
  if (hours > 15 || minutes > 59) return null;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

/** parseApiTime, as a Date (to the millisecond): for times given on the command line. */
export function parseIsoDatetime(text: string): Date | null {
  const time = parseApiTime(text);
  return time === null ? null : new Date(time.ms);
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isOnCalendar(fields: RegExpExecArray): boolean {
  const year = Number(fields[1]);
  const month = Number(fields[2]);
  const day = Number(fields[3]);
  const hour = Number(fields[4]);
  const minute = Number(fields[5]);
  const second = fields[6] === undefined ? 0 : Number(fields[6]);
  return (
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= (DAYS_IN_MONTH[month - 1] ?? 0) &&
    !(month === 2 && day === 29 && !isLeap(year)) &&
    // 24:00:00 is the end of the day, which ISO 8601, Date and PostgreSQL all read as the next
    // midnight. A leap second (:60) Date cannot read.
    (hour <= 23 || (hour === 24 && minute === 0 && second === 0 && Number(fields[7] ?? 0) === 0)) &&
    minute <= 59 &&
    second <= 59
  );
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}
