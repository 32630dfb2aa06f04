import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/infra/migrate.js';
import { redactSecrets } from '../../src/redact.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * Migration 0003 scrubs error texts stored before redaction existed with PostgreSQL regular
 * expressions that restate src/redact.ts's patterns. They must give the same results.
 */
const migration = readFileSync(`${MIGRATIONS_FOLDER}/0003_run_leases.sql`, 'utf8');
const [field, scheme] = [...migration.matchAll(/\$re\$(.*?)\$re\$/g)].map((m) => m[1]);

const SAMPLES = [
  '{"detail":"bad key","headers":{"authorization":"Key sk_other_123"}}',
  'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc\nX-Id: 1',
  '<tr><td>Authorization</td><td>Key sk_other_123</td></tr>',
  '{"x-api-key":["sk_live_abc123"]}',
  '{"authorization": ["Key abcdefghijklmnop1"]}',
  'Invalid API key: sk_live_abc123',
  'api key=sk_live_abc123 and more',
  'rejected Key sk_other_123 for this account',
  'GET /x?api_key=sk_other_123&page=2',
  'duplicate key value violates unique constraint "jobs_pkey"',
  'Key (source, job_id)=(a, b) already exists.',
  'Bearer token-based authentication failed',
  'Basic information_schema access denied',
  'SUTRO_API_KEY: is required for this command',
  'password authentication failed for user "sutro"',
];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe("migration 0003's scrub of stored errors", () => {
  it.each(SAMPLES)('redacts %j exactly as redact.ts does', async (text) => {
    expect(field).toBeDefined();
    expect(scheme).toBeDefined();
    const result = await db.pool.query<{ redacted: string }>(
      `SELECT regexp_replace(regexp_replace($1, $2, '\\1[REDACTED]', 'gi'), $3, '\\1\\2[REDACTED]', 'gi') AS redacted`,
      [text, field, scheme],
    );
    expect(result.rows[0]?.redacted).toBe(redactSecrets(text));
  });
});
