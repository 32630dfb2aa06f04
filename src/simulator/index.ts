export {
  SimulatedAccount,
  type AccountOptions,
  type AdvanceOptions,
  type AdvanceSummary,
  type ApiJob,
} from './account.js';
export {
  startSimulator,
  type Fault,
  type FaultController,
  type RequestLog,
  type RequestRecord,
  type RunningSimulator,
  type SimulatorOptions,
} from './server.js';
