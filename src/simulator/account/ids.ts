import { Random } from './random.js';

/**
 * Job ids encode the index through an invertible scramble of 32 bits, so that looking a job up by id
 * needs no index of ids, yet ids do not sort like creation times (a sync must not rely on that).
 */
const ID_MULTIPLIER = 0x2c1b3c6d;
const ID_MIXER = 0x5bd1e995;
const ID_MULTIPLIER_INVERSE = inverse32(ID_MULTIPLIER);
const ID_MIXER_INVERSE = inverse32(ID_MIXER);
const ID_PATTERN = /^job_([0-9a-z]{7})[0-9a-f]{6}$/;

/** The multiplicative inverse of an odd number modulo 2^32, by Newton's iteration. */
function inverse32(odd: number): number {
  let inverse = odd;
  for (let i = 0; i < 5; i += 1) inverse = Math.imul(inverse, 2 - Math.imul(odd, inverse));
  return inverse >>> 0;
}

/** The ids of one account's jobs: the same seed gives the same ids, another seed others. */
export class JobIds {
  private readonly salt: number;

  constructor(seed: number) {
    this.salt = Random.for(seed, -1, 3).int(0, 0xffffffff);
  }

  /** The scrambled index, then six hex digits that make ids look like the API's random ones. */
  idOf(index: number): string {
    const scrambled = this.scramble(index);
    const tail = (Math.imul(scrambled ^ this.salt, 0x9e3779b1) >>> 8).toString(16).padStart(6, '0');
    return `job_${scrambled.toString(36).padStart(7, '0')}${tail}`;
  }

  /** The index an id was made from; undefined for an id this account never made. */
  indexOf(jobId: string): number | undefined {
    const match = ID_PATTERN.exec(jobId);
    if (!match?.[1]) return undefined;
    const index = this.unscramble(parseInt(match[1], 36));
    return this.idOf(index) === jobId ? index : undefined;
  }

  private scramble(index: number): number {
    let x = (Math.imul(index, ID_MULTIPLIER) + this.salt) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    return Math.imul(x, ID_MIXER) >>> 0;
  }

  private unscramble(value: number): number {
    let x = Math.imul(value, ID_MIXER_INVERSE) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    return Math.imul((x - this.salt) >>> 0, ID_MULTIPLIER_INVERSE) >>> 0;
  }
}
