import type { JobShape } from '../sutro/job.js';

/**
 * How the jobs of a run differed from the API reference: fields it does not name (kept in raw),
 * fields of the reference they lacked (stored as null), jobs in the legacy shape. A changed API shows
 * here, counted on the run, warned about once per field, on /metrics and in `status`, instead of
 * as columns quietly filling with nulls.
 */
export interface SchemaDrift {
  readonly jobsWithUnknownFields: number;
  readonly jobsWithMissingFields: number;
  readonly jobsInLegacyShape: number;
  /** Sorted; at most MAX_NAMES, so that an API sending a new key per job cannot flood a row. */
  readonly unknownFields: readonly string[];
  readonly missingFields: readonly string[];
}

export const NO_DRIFT: SchemaDrift = {
  jobsWithUnknownFields: 0,
  jobsWithMissingFields: 0,
  jobsInLegacyShape: 0,
  unknownFields: [],
  missingFields: [],
};

const MAX_NAMES = 50;

export class DriftTally {
  private jobsWithUnknownFields = 0;
  private jobsWithMissingFields = 0;
  private jobsInLegacyShape = 0;
  private readonly unknown = new Set<string>();
  private readonly missing = new Set<string>();

  /** Adds a job's shape; returns the field names this tally had not seen yet, for a first warning. */
  add(shape: JobShape): { unknown: string[]; missing: string[]; legacy: boolean } {
    const fresh = { unknown: [] as string[], missing: [] as string[], legacy: false };
    if (shape.unknown.length > 0) this.jobsWithUnknownFields += 1;
    if (shape.missing.length > 0) this.jobsWithMissingFields += 1;
    if (shape.legacy) {
      fresh.legacy = this.jobsInLegacyShape === 0;
      this.jobsInLegacyShape += 1;
    }
    for (const [names, seen, out] of [
      [shape.unknown, this.unknown, fresh.unknown],
      [shape.missing, this.missing, fresh.missing],
    ] as const) {
      for (const name of names) {
        if (seen.has(name) || seen.size >= MAX_NAMES) continue;
        seen.add(name);
        out.push(name);
      }
    }
    return fresh;
  }

  summary(): SchemaDrift {
    return {
      jobsWithUnknownFields: this.jobsWithUnknownFields,
      jobsWithMissingFields: this.jobsWithMissingFields,
      jobsInLegacyShape: this.jobsInLegacyShape,
      unknownFields: [...this.unknown].sort(),
      missingFields: [...this.missing].sort(),
    };
  }
}
