import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** SUTRO_SOURCES_FILE in the configuration: the file's sources with the environment's defaults. */

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-sources-'));
  await writeFile(path.join(dir, 'team-a.key'), 'sk_live_a\n');
  await writeFile(
    path.join(dir, 'sources.yaml'),
    `sources:
  - name: team-a
    api_url: https://acme.sutro.example
    api_key_file: team-a.key
  - name: staging
    api_url: https://acme-staging.sutro.example
    api_key_env: STAGING_KEY
    schedule: "*/5 * * * *"
`,
  );
});

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, dir, { needsApi: true });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('SUTRO_SOURCES_FILE', () => {
  it('reads the sources, key files beside the file, with the environment settings as defaults', () => {
    const config = loadConfig(
      {
        SUTRO_SOURCES_FILE: 'sources.yaml',
        STAGING_KEY: 'sk_live_staging',
        SUTRO_SYNC_SCHEDULE: '*/10 * * * *',
        SUTRO_CONCURRENCY: '8',
        SUTRO_POLL_SECONDS: '0.5',
      },
      dir,
      { needsApi: true },
    );
    expect(config.sourcesFile).toBe(path.join(dir, 'sources.yaml'));
    expect(config.sync).toMatchObject({ concurrency: 8, pollMs: 500 });
    expect(config.sources.map((s) => [s.name, s.apiKey, s.schedule, s.apiUrl])).toEqual([
      ['team-a', 'sk_live_a', '*/10 * * * *', 'https://acme.sutro.example/v1'],
      ['staging', 'sk_live_staging', '*/5 * * * *', 'https://acme-staging.sutro.example/v1'],
    ]);
  });

  it('makes the single-source variables a one-source configuration, as before', () => {
    const config = loadConfig(
      { SUTRO_API_URL: 'https://acme.sutro.example', SUTRO_API_KEY: 'sk_x', SUTRO_SOURCE: 'prod' },
      dir,
      { needsApi: true },
    );
    expect(config.sources).toEqual([
      {
        name: 'prod',
        apiUrl: 'https://acme.sutro.example/v1',
        apiKey: 'sk_x',
        keyFrom: 'SUTRO_API_KEY',
        pageLimit: 100,
        schedule: '*/15 * * * *',
        fullSchedule: '17 3 * * *',
        enabled: true,
      },
    ]);
    expect(config.sync).toMatchObject({ concurrency: 4, pollMs: 5_000 });
  });

  it('refuses the file and the single-source variables together, naming both', () => {
    expect(problems({ SUTRO_SOURCES_FILE: 'sources.yaml', STAGING_KEY: 'k', SUTRO_API_KEY: 'sk_x' })).toEqual(
      [
        'SUTRO_SOURCES_FILE: set either SUTRO_SOURCES_FILE or the single-source variables (SUTRO_API_KEY), not both',
      ],
    );
  });

  it('names a file it cannot read, and every problem in one it can', () => {
    expect(problems({ SUTRO_SOURCES_FILE: 'missing.yaml' })).toEqual([
      `SUTRO_SOURCES_FILE: cannot read ${path.join(dir, 'missing.yaml')} (ENOENT)`,
    ]);
    const bad = problems({ SUTRO_SOURCES_FILE: 'sources.yaml', SUTRO_CONCURRENCY: '0' });
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatch(/^SUTRO_CONCURRENCY: /);
  });
});
