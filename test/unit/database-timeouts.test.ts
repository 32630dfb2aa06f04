import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { connect } from '../../src/db/infra/connect.js';
import { clientTimeoutMs, databaseError } from '../../src/db/infra/errors.js';

/**
 * The end-to-end tests of a frozen database (test/e2e/frozen-database.test.ts) run with a short
 * statement timeout, so that they wait seconds rather than minutes; this file proves what the
 * defaults add up to: a run whose database froze ends within two minutes.
 */

const frozen = new Error('Query read timeout');

/** The limits a pool gets: pg keeps them in `options`, which @types/pg does not declare. */
function poolOptions(statementTimeoutMs: number): { query_timeout: number; connectionTimeoutMillis: number } {
  const limits = { statementTimeoutMs, lockTimeoutMs: 10_000 };
  const database = connect(
    { connectionString: 'postgresql://nobody@127.0.0.1:1/none', ssl: false },
    pino({ level: 'silent' }),
    {
      limits,
    },
  );
  const options = (
    database.pool as unknown as { options: { query_timeout: number; connectionTimeoutMillis: number } }
  ).options;
  void database.close();
  return options;
}

describe('the client-side limits above the server timeout', () => {
  it('with the defaults, gives a frozen connection up after 70 s and a silent connect after 10 s: within two minutes', () => {
    const { limits } = loadConfig({}).database;
    expect(limits.statementTimeoutMs).toBe(60_000);
    expect(clientTimeoutMs(limits)).toBe(70_000);
    const options = poolOptions(limits.statementTimeoutMs);
    expect(options.query_timeout).toBe(70_000);
    expect(options.connectionTimeoutMillis).toBe(10_000);
    // A frozen statement, then the failed run's end recorded on a connection that never opens.
    expect(options.query_timeout + options.connectionTimeoutMillis).toBeLessThanOrEqual(120_000);
    expect(databaseError(frozen, 'writing page 4', limits).message).toBe(
      'writing page 4: the database did not answer within 70 s: the connection is frozen (a network partition, ' +
        'a stalled pooler) or the server is overloaded (SUTRO_DB_STATEMENT_TIMEOUT_MS + 10 s)',
    );
  });

  it.each([
    [1_000, 2_000],
    [3_000, 6_000],
    [10_000, 20_000],
    [30_000, 40_000],
    [3_600_000, 3_610_000],
  ])('a statement timeout of %i ms gives the connection up after %i ms', (statementTimeoutMs, expected) => {
    const limits = { statementTimeoutMs, lockTimeoutMs: 10_000 };
    expect(clientTimeoutMs(limits)).toBe(expected);
    expect(poolOptions(statementTimeoutMs).query_timeout).toBe(expected);
  });

  it('names the grace it allowed when it is shorter than 10 s', () => {
    const limits = loadConfig({ SUTRO_DB_STATEMENT_TIMEOUT_MS: '1500' }).database.limits;
    expect(databaseError(frozen, 'writing page 4', limits).message).toMatch(
      /did not answer within 3 s: .*\(SUTRO_DB_STATEMENT_TIMEOUT_MS \+ 1\.5 s\)$/,
    );
  });
});
