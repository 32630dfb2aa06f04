export {
  MODEL_PRICES,
  SimulatedAccount,
  type AccountOptions,
  type AdvanceOptions,
  type AdvanceSummary,
  type ApiJob,
} from './account.js';
export {
  startSimulator,
  type Endpoint,
  type Fault,
  type FaultController,
  type MalformedVariant,
  type RequestLog,
  type RequestRecord,
  type RunningSimulator,
  type SimulatorOptions,
} from './server.js';
export { Random } from './random.js';
