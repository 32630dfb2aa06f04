import { SimulatedAccount } from '../account/account.js';

const MIB = 1_048_576;

/**
 * A system prompt of one MiB: the padding of every job of a huge page. Plain words, so that JSON
 * writes it as it is and a part's length is its size in bytes.
 */
const LONG_PROMPT =
  'Classify the support ticket below by product area and urgency, citing the sentence that decides. '
    .repeat(Math.ceil(MIB / 97))
    .slice(0, MIB);

/** Real jobs to pad: the account's newest, or another account's when this one lists none. */
function sampleJobs(account: SimulatedAccount): unknown[] {
  const own = account.page(0, 100);
  return own.length > 0 ? own : new SimulatedAccount({ jobs: 100, seed: account.seed }).page(0, 100);
}

/**
 * The parts of a list-jobs answer of at least `megabytes` MiB, up to its closing: `head`, then the
 * account's jobs over and over, each with a one-MiB system prompt. Made one part at a time, so only
 * the part being written is ever in memory.
 */
export function* hugeListingParts(
  account: SimulatedAccount,
  megabytes: number,
  head: string,
): Generator<string> {
  const jobs = sampleJobs(account);
  const target = megabytes * MIB;
  let written = head.length;
  yield head;
  for (let i = 0; written < target; i += 1) {
    const job = jobs[i % jobs.length];
    const padded = typeof job === 'object' && job !== null ? { ...job, system_prompt: LONG_PROMPT } : job;
    const part = `${i > 0 ? ',' : ''}${JSON.stringify(padded) ?? 'null'}`;
    written += part.length;
    yield part;
  }
}
