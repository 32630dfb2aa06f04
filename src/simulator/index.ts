export {
  SimulatedAccount,
  type AccountOptions,
  type AdvanceOptions,
  type AdvanceSummary,
} from './account/account.js';
export { MODEL_PRICES } from './account/catalogue.js';
export type { ApiJob, JobShape, LegacyApiJob, TimestampPrecision } from './account/job-json.js';
export {
  startSimulator,
  type EchoContentType,
  type Endpoint,
  type ErrorShape,
  type Fault,
  type FaultKind,
  type FaultController,
  type MalformedVariant,
  type RequestLog,
  type RequestRecord,
  type RunningAccount,
  type RunningSimulator,
  type SimulatedTenant,
  type SimulatorOptions,
} from './server.js';
export { BEHAVIOURS, parseQueuedFault, type Behaviour, type QueuedFault } from './faults/fault-json.js';
export { Random } from './account/random.js';
