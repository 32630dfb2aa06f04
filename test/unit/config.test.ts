import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, requireApiKey } from '../../src/config.js';

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
    expect(config.sutro.apiUrl).toBe('https://api.sutro.sh');
    expect(config.sutro.pageLimit).toBe(100);
    expect(config.source).toBe('default');
    expect(config.database.url).toBeUndefined();
    expect(config.embedded.dataDir).toBe('/srv/.sutro-sync/pg');
    expect(config.sync.schedule).toBe('*/15 * * * *');
    expect(config.logLevel).toBe('info');
  });

  it('keeps a path prefix of SUTRO_API_URL and drops a trailing slash', () => {
    expect(loadConfig({ SUTRO_API_URL: 'https://sutro.example.com/v1/' }).sutro.apiUrl).toBe(
      'https://sutro.example.com/v1',
    );
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

  it('requires the API key only where it is used, and names it with the other problems', () => {
    const config = loadConfig({});
    expect(() => requireApiKey(config)).toThrow(/SUTRO_API_KEY: is required/);
    expect(requireApiKey(loadConfig({ SUTRO_API_KEY: 'sk_x' }, '/srv', { needsApiKey: true }))).toBe('sk_x');
    let error: unknown;
    try {
      loadConfig({ SUTRO_PAGE_LIMIT: '0' }, '/srv', { needsApiKey: true });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.split(':')[0])).toEqual([
      'SUTRO_PAGE_LIMIT',
      'SUTRO_API_KEY',
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
