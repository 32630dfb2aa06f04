import type { Endpoint } from './faults/faults.js';

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  /** The query parameters; the key is in a header and never recorded. */
  readonly query: Record<string, string>;
  /** 0 when no answer was sent: the connection was dropped, or the request is left hanging. */
  readonly status: number;
  readonly at: string;
  readonly endpoint: Endpoint | 'control' | 'other';
}

export interface RequestLog {
  readonly entries: readonly RequestRecord[];
  /** Requests to an endpoint since the last clear, whatever their answer. */
  count(endpoint: RequestRecord['endpoint']): number;
  clear(): void;
}

/** Every request the simulator answered, in the order their answers were decided. */
export class RecordedRequests implements RequestLog {
  private readonly list: RequestRecord[] = [];
  private readonly counts = new Map<RequestRecord['endpoint'], number>();

  get entries(): readonly RequestRecord[] {
    return this.list;
  }

  count(endpoint: RequestRecord['endpoint']): number {
    return this.counts.get(endpoint) ?? 0;
  }

  clear(): void {
    this.list.length = 0;
    this.counts.clear();
  }

  record(entry: RequestRecord): void {
    this.list.push(entry);
    this.counts.set(entry.endpoint, this.count(entry.endpoint) + 1);
  }
}
