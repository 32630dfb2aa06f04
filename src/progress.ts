import type { PageProgress } from './sync/vocabulary.js';

/** Where the progress line goes: process.stderr, or a fake in tests. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

export interface ProgressLine {
  /** For runSync's `onPage`. */
  readonly onPage: (progress: PageProgress) => void;
  /** Draws the final figures and ends the line, so that what is printed next starts on its own. */
  readonly end: () => void;
}

export interface ProgressOptions {
  readonly stream?: ProgressStream;
  /** Redraws at most this often; a fast full pass commits hundreds of pages a second. */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

const CLEAR_LINE = '\r\x1b[2K';
const number = new Intl.NumberFormat('en-US');

function duration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const m = Math.floor(seconds / 60);
  return `${m}:${String(seconds % 60).padStart(2, '0')}`;
}

/**
 * One line on a terminal that `sync` rewrites as pages commit: pages, jobs by outcome, rate and
 * elapsed time. Anywhere else (a pipe, a log collector, a CronJob) it writes nothing at all: the
 * JSON log lines already say what happened, one per event.
 */
export function createProgressLine(options: ProgressOptions = {}): ProgressLine {
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY !== true) return { onPage: () => undefined, end: () => undefined };

  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 100;
  const started = now();
  let lastDrawn = -Infinity;
  let drawn = false;
  let pages = 0;
  let seen = 0;
  const jobs = { inserted: 0, updated: 0, unchanged: 0, rejected: 0 };

  const text = (): string => {
    const elapsed = now() - started;
    const rate = elapsed > 0 ? Math.round((seen * 1000) / elapsed) : 0;
    const line =
      `sync: ${number.format(pages)} pages, ${number.format(seen)} jobs ` +
      `(${number.format(jobs.inserted)} new, ${number.format(jobs.updated)} updated, ` +
      `${number.format(jobs.unchanged)} unchanged, ${number.format(jobs.rejected)} rejected), ` +
      `${number.format(rate)} jobs/s, ${duration(elapsed)}`;
    // A line longer than the terminal wraps, and \r would then rewrite only its last part.
    const width = stream.columns ?? 0;
    return width > 1 && line.length >= width ? `${line.slice(0, width - 2)}…` : line;
  };
  const draw = () => {
    stream.write(`${CLEAR_LINE}${text()}`);
    drawn = true;
    lastDrawn = now();
  };

  return {
    onPage(progress) {
      pages += 1;
      seen += progress.listed;
      jobs.inserted += progress.inserted;
      jobs.updated += progress.updated;
      jobs.unchanged += progress.unchanged;
      jobs.rejected += progress.rejected;
      if (now() - lastDrawn >= intervalMs) draw();
    },
    end() {
      if (pages === 0 && !drawn) return;
      draw();
      stream.write('\n');
    },
  };
}
