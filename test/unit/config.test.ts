import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, requireSources } from '../../src/config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, '/srv');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({}, '/srv');
    expect(config.sutro.apiUrl).toBeUndefined();
    expect(config.sutro.pageLimit).toBe(100);
    expect(config.source).toBe('default');
    expect(config.database.url).toBeUndefined();
    expect(config.embedded.dataDir).toBe('/srv/.sutro-sync/pg');
    expect(config.sync.schedule).toBe('*/15 * * * *');
    expect(config.logLevel).toBe('info');
  });

  it.each([
    ['https://acme.sutro.example', 'https://acme.sutro.example/v1'],
    ['https://acme.sutro.example/', 'https://acme.sutro.example/v1'],
    ['https://acme.sutro.example/v1', 'https://acme.sutro.example/v1'],
    ['https://acme.sutro.example/v1/', 'https://acme.sutro.example/v1'],
    ['https://acme.sutro.example:8443', 'https://acme.sutro.example:8443/v1'],
    ['http://localhost:8787', 'http://localhost:8787/v1'],
    ['http://127.0.0.1:8787/v1', 'http://127.0.0.1:8787/v1'],
    ['http://[::1]:8787', 'http://[::1]:8787/v1'],
  ])('reads SUTRO_API_URL %s as the deployment %s, as Sutro’s SDK does', (value, base) => {
    expect(loadConfig({ SUTRO_API_URL: value }).sutro.apiUrl).toBe(base);
  });

  it.each([
    [
      'https://api.sutro.sh',
      "api.sutro.sh is one of Sutro's retired shared hosts: set SUTRO_API_URL to your own Sutro deployment's URL, and use an API key created in that deployment",
    ],
    ['https://serve.sutro.sh/v1', "serve.sutro.sh is one of Sutro's retired shared hosts"],
    ['https://api.materialized.dev', "api.materialized.dev is one of Sutro's retired shared hosts"],
    [
      'http://acme.sutro.example',
      'must use https; plain http is accepted for localhost only (got http://acme.sutro.example)',
    ],
    [
      'https://acme.sutro.example/api',
      `must be your deployment's origin, with or without /v1 (got the path "/api")`,
    ],
    [
      'https://acme.sutro.example/v1/list-jobs',
      `must be your deployment's origin, with or without /v1 (got the path "/v1/list-jobs")`,
    ],
    ['https://acme.sutro.example?region=eu', 'must not have a query string or fragment (got "?region=eu")'],
    ['https://key:hunter2@acme.sutro.example', 'must not hold credentials; the key goes in SUTRO_API_KEY'],
    ['ftp://acme.sutro.example', 'must be an https URL (got "ftp:")'],
    ['acme.sutro.example', 'is not a URL'],
  ])('refuses SUTRO_API_URL %s before any request', (value, why) => {
    const error = configError({ SUTRO_API_URL: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain(`SUTRO_API_URL: ${why}`);
    expect(error.message).not.toContain('hunter2');
  });

  it('names every bad variable in one error', () => {
    const error = configError({
      SUTRO_API_URL: 'ftp://nope',
      DATABASE_URL: 'mysql://x',
      SUTRO_SYNC_SCHEDULE: 'every minute',
      SUTRO_PAGE_LIMIT: '500',
      SUTRO_REQUEST_TIMEOUT_MS: 'soon',
      LOG_LEVEL: 'loud',
      SUTRO_SOURCE: 'has spaces',
    });
    const variables = error.problems.map((p) => p.split(':')[0]);
    expect(variables).toEqual(
      expect.arrayContaining([
        'SUTRO_API_URL',
        'DATABASE_URL',
        'SUTRO_SYNC_SCHEDULE',
        'SUTRO_PAGE_LIMIT',
        'SUTRO_REQUEST_TIMEOUT_MS',
        'LOG_LEVEL',
        'SUTRO_SOURCE',
      ]),
    );
    expect(error.message).toContain('SUTRO_SYNC_SCHEDULE');
    expect(error.message).toContain('"every minute"');
  });

  it.each([
    [{ SUTRO_PAGE_LIMIT: '500' }, 'SUTRO_PAGE_LIMIT: must be a whole number from 1 to 100 (got "500")'],
    [{ SUTRO_PAGE_LIMIT: '-1.5' }, 'SUTRO_PAGE_LIMIT: must be a whole number from 1 to 100 (got "-1.5")'],
    [
      { SUTRO_LEASE_SECONDS: 'soon' },
      'SUTRO_LEASE_SECONDS: must be a whole number from 2 to 3600 (got "soon")',
    ],
    [
      { LOG_LEVEL: 'loud' },
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    ],
    [
      { SUTRO_HTTP_HOST: ' ' },
      'SUTRO_HTTP_HOST: must be a host name or address to listen on, such as 127.0.0.1 or 0.0.0.0 (got " ")',
    ],
    [
      { SUTRO_SYNC_SCHEDULE: '61 * * * *' },
      'SUTRO_SYNC_SCHEDULE: must be a cron expression of 5 fields, minute hour day month weekday, such as "*/15 * * * *" (or 6, with the second first), but "61" is not a valid minute (got "61 * * * *")',
    ],
    [
      { SUTRO_FULL_SYNC_SCHEDULE: 'every day' },
      'SUTRO_FULL_SYNC_SCHEDULE: must be a cron expression of 5 fields, minute hour day month weekday, such as "*/15 * * * *" (or 6, with the second first), but it has 2 fields (got "every day")',
    ],
    [
      { SUTRO_API_URL: 'http://acme.sutro.example' },
      'SUTRO_API_URL: must use https; plain http is accepted for localhost only (got http://acme.sutro.example)',
    ],
    [{ SUTRO_API_URL: 'ftp://acme.sutro.example' }, 'SUTRO_API_URL: must be an https URL (got "ftp:")'],
  ])('says in plain words what %j must be, and what it got, once', (env, problem) => {
    expect(configError(env).problems).toEqual([problem]);
  });

  it('reads secrets from *_FILE variables and rejects setting both forms', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sutro-config-'));
    writeFileSync(path.join(dir, 'key'), 'sk_file_key\n');
    writeFileSync(path.join(dir, 'db'), 'postgres://u:p@db:5432/sutro\n');
    const config = loadConfig({
      SUTRO_API_KEY_FILE: path.join(dir, 'key'),
      DATABASE_URL_FILE: path.join(dir, 'db'),
    });
    expect(config.sutro.apiKey).toBe('sk_file_key');
    expect(config.database.url).toBe('postgres://u:p@db:5432/sutro');

    const both = configError({ SUTRO_API_KEY: 'a', SUTRO_API_KEY_FILE: path.join(dir, 'key') });
    expect(both.message).toContain('SUTRO_API_KEY_FILE: set either');
    const missing = configError({ SUTRO_API_KEY_FILE: path.join(dir, 'absent') });
    expect(missing.message).toContain('SUTRO_API_KEY_FILE: cannot read');
    writeFileSync(path.join(dir, 'bad-db'), 'not a url');
    expect(configError({ DATABASE_URL_FILE: path.join(dir, 'bad-db') }).message).toContain(
      'DATABASE_URL_FILE',
    );
  });

  it('requires the API key and URL only where they are used, and names them with the other problems', () => {
    const config = loadConfig({});
    expect(() => requireSources(config)).toThrow(
      /SUTRO_API_KEY: is required.*\n.*SUTRO_API_URL: is required/s,
    );
    const env = { SUTRO_API_KEY: 'sk_x', SUTRO_API_URL: 'https://acme.sutro.example' };
    expect(requireSources(loadConfig(env, '/srv', { needsApi: true }))).toMatchObject([
      { name: 'default', apiKey: 'sk_x', apiUrl: 'https://acme.sutro.example/v1', keyFrom: 'SUTRO_API_KEY' },
    ]);
    let error: unknown;
    try {
      loadConfig({ SUTRO_PAGE_LIMIT: '0' }, '/srv', { needsApi: true });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.split(':')[0])).toEqual([
      'SUTRO_PAGE_LIMIT',
      'SUTRO_API_KEY',
      'SUTRO_API_URL',
    ]);
  });

  it('never quotes a password or the API key back', () => {
    for (const url of [
      'postgresql://app:hunter2@db.internal:notaport/sutro',
      'postgresql://app:hun@ter2@db:notaport/x',
      'host=db user=app password=hunter2',
      'postgres:/app:hunter2@db/x',
    ]) {
      const error = configError({ DATABASE_URL: url, SUTRO_API_KEY: 'sk live key' });
      expect(error.message).toMatch(/DATABASE_URL: .* \(got a value not shown, as it may hold a secret\)/);
      expect(error.message).toContain('SUTRO_API_KEY: must not contain whitespace');
      expect(error.message).not.toMatch(/hunter2|ter2|sk live key/);
    }
  });
});
