import type { SimulatedAccount } from './account/account.js';
import type { Cursors } from './cursors.js';
import type { FaultQueue } from './faults/faults.js';
import type { RecordedRequests } from './request-log.js';

/** What the route handlers of one running simulator share. */
export interface SimulatorContext {
  readonly account: SimulatedAccount;
  readonly faults: FaultQueue;
  readonly cursors: Cursors;
  readonly requests: RecordedRequests;
  /** Delay before every API answer: the network and the API's own work. */
  latencyMs: number;
  /** Resolves after `ms`; never, once the simulator is closed (its connections are gone by then). */
  sleep(ms: number): Promise<void>;
}
