import { loadConfig } from '../../src/config.js';

/** The database limits and lease length a user gets by default, so the tests run what users run. */
const defaults = loadConfig({});

export const DEFAULT_LIMITS = defaults.database.limits;
export const MIGRATION_LOCK_TIMEOUT_MS = defaults.database.migrationLockTimeoutMs;
export const LEASE_SECONDS = defaults.sync.leaseSeconds;
export const MAX_RESPONSE_BYTES = defaults.sutro.maxResponseBytes;
