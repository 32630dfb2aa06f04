import { describe } from 'vitest';
import { routes } from '../helpers/database.js';
import { crashTests } from './crash-suite.js';

// Where PgBouncer is installed (TEST_REQUIRE_PGBOUNCER=1 makes its absence an error: global-setup.ts).
describe.skipIf(!routes().includes('pooler'))('through pooler', () => crashTests('pooler'));
