import { InvalidArgumentError } from 'commander';
import { BEHAVIOURS, parseQueuedFault, type QueuedFault } from '../simulator/faults/fault-json.js';
import { parseIsoDatetime } from '../sutro/api-time.js';

/**
 * How the CLI reads its options' values, and their defaults: what `--help` and the parsing need
 * before any command runs, kept apart from the commands so that each is loaded only when it runs.
 */

/**
 * How long `sync --wait` waits for a run of the same source elsewhere: the default schedule's
 * interval, after which a scheduled run would have been due anyway.
 */
export const DEFAULT_WAIT_SECONDS = 900;

export const REPORT_FORMATS = ['table', 'csv', 'json', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max)
      throw new InvalidArgumentError(`${name} must be an integer 0..${max}`);
    return n;
  };
}

/** A datetime option: UTC unless it says otherwise, and a day alone is its midnight. */
export function datetime(name: string) {
  return (value: string): Date => {
    const text = value.trim();
    const at = parseIsoDatetime(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
    if (at === null)
      throw new InvalidArgumentError(
        `${name} must be an ISO 8601 date or datetime on the calendar, such as 2026-11-01T00:00:00Z (got ${JSON.stringify(value)})`,
      );
    return at;
  };
}

/** A commander parser for a YYYY-MM-DD option; the error names the option, as commander prints it. */
export function utcDay(option: string) {
  return (value: string): string => {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
    const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
    // Date.UTC rolls 2024-02-30 over into March; a real day survives the round trip.
    if (date === null || Number.isNaN(date.getTime()) || isoDay(date) !== value.trim()) {
      throw new InvalidArgumentError(`${option} must be a UTC calendar day such as 2024-01-31`);
    }
    return value.trim();
  };
}

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** `--behave <name>`, repeatable: a misbehaviour of every matching request, for as long as it runs. */
export function collectBehaviour(name: string, previous: readonly QueuedFault[] = []): QueuedFault[] {
  if (!Object.hasOwn(BEHAVIOURS, name)) {
    throw new InvalidArgumentError(
      `--behave must be one of ${Object.keys(BEHAVIOURS).join(', ')} (got ${JSON.stringify(name)})`,
    );
  }
  const fault = BEHAVIOURS[name as keyof typeof BEHAVIOURS];
  return [...previous, { fault, times: Number.POSITIVE_INFINITY }];
}

/** `--fault <json>`, repeatable: a fault as POST /_sim/faults takes it, `times` and all. */
export function collectFault(json: string, previous: readonly QueuedFault[] = []): QueuedFault[] {
  try {
    return [...previous, parseQueuedFault(JSON.parse(json))];
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidArgumentError(`--fault must be a fault as JSON: ${reason}`);
  }
}
