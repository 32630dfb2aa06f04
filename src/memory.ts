import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection left alive, in
 * percent. V8's own factor goes up to 4x when collections are quick, and a sync's pages promote a
 * steady stream of short-lived garbage, so a long pass settled at three to four times its live heap
 * (about 22 MB) and a 1,000,000-job pass peaked at 1.6x the RSS of a 10,000-job one. At 2x the
 * peak no longer depends on the account's size, for a few µs of collection per job
 * (bench/README.md, issue 20).
 */
const HEAP_GROWING_PERCENT = 100;

const FLAG = '--heap-growing-percent';

/**
 * Applies HEAP_GROWING_PERCENT to this process, unless the operator chose a factor of their own in
 * NODE_OPTIONS or on node's command line. V8 reads the factor at each full collection, so setting
 * it once the process runs takes effect from the next one.
 */
export function boundHeapGrowth(nodeOptions: string | undefined, execArgv: readonly string[]): boolean {
  const chosen = [...(nodeOptions ?? '').split(/\s+/), ...execArgv].some(
    (option) =>
      option === FLAG || option.startsWith(`${FLAG}=`) || option.startsWith('--heap_growing_percent'),
  );
  if (chosen) return false;
  setFlagsFromString(`${FLAG}=${HEAP_GROWING_PERCENT}`);
  return true;
}
