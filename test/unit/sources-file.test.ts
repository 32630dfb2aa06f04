import { describe, expect, it } from 'vitest';
import { readSourcesFile, type SourcesFileContext } from '../../src/sources.js';

const defaults = { pageLimit: 100, schedule: '*/15 * * * *', fullSchedule: '17 3 * * *' };
const keyFiles: Record<string, string> = {
  '/etc/sutro/keys/team-a': 'sk_live_team_a\n',
  '/etc/sutro/keys/empty': '  \n',
};

function read(text: string, env: Record<string, string> = {}) {
  const context: SourcesFileContext = {
    file: '/etc/sutro/sources.yaml',
    folder: '/etc/sutro',
    text,
    defaults,
    env,
    readKeyFile: (file) => {
      const key = keyFiles[file];
      if (key === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
      return key;
    },
  };
  return readSourcesFile(context);
}

const problemsOf = (text: string, env: Record<string, string> = {}) => {
  const result = read(text, env);
  if (!('problems' in result)) throw new Error('expected problems');
  return result.problems;
};

describe('a sources file', () => {
  it('gives each source its key by reference and the environment settings as defaults', () => {
    const result = read(
      `sources:
  - name: team-a
    api_url: https://acme.sutro.sh
    api_key_file: keys/team-a
  - name: staging
    api_url: https://acme-staging.sutro.sh/v1/
    api_key_env: STAGING_KEY
    schedule: "*/5 * * * *"
    full_schedule: "0 4 * * *"
    page_limit: 50
    enabled: false
`,
      { STAGING_KEY: 'sk_live_staging' },
    );
    expect(result).toEqual({
      sources: [
        {
          name: 'team-a',
          apiUrl: 'https://acme.sutro.sh/v1',
          apiKey: 'sk_live_team_a',
          keyFrom: 'api_key_file /etc/sutro/keys/team-a',
          pageLimit: 100,
          schedule: '*/15 * * * *',
          fullSchedule: '17 3 * * *',
          enabled: true,
        },
        {
          name: 'staging',
          apiUrl: 'https://acme-staging.sutro.sh/v1',
          apiKey: 'sk_live_staging',
          keyFrom: 'api_key_env STAGING_KEY',
          pageLimit: 50,
          schedule: '*/5 * * * *',
          fullSchedule: '0 4 * * *',
          enabled: false,
        },
      ],
    });
  });

  it('names every bad entry by place, name and setting, all at once', () => {
    const problems = problemsOf(
      `sources:
  - name: team-a
    api_url: https://acme.sutro.sh
    api_key_file: keys/team-a
  - name: team-a
    api_url: https://acme.sutro.sh
    api_key_env: TEAM_B_KEY
  - name: both
    api_url: https://acme.sutro.sh
    api_key_file: keys/team-a
    api_key_env: TEAM_A
  - name: neither
    api_url: https://acme.sutro.sh
  - name: unreadable
    api_url: https://acme.sutro.sh
    api_key_file: keys/missing
  - name: blank
    api_url: https://acme.sutro.sh
    api_key_file: keys/empty
  - name: retired
    api_url: https://api.sutro.sh
    api_key_file: keys/team-a
  - name: cron
    api_url: https://acme.sutro.sh
    api_key_file: keys/team-a
    schedule: "every hour"
    page_limit: 500
    colour: blue
  - name: "bad name!"
    api_url: https://acme.sutro.sh
    api_key_file: keys/team-a
`,
    );
    const where = 'SUTRO_SOURCES_FILE (/etc/sutro/sources.yaml): ';
    expect(problems).toEqual([
      `${where}sources[1] "team-a": name: "team-a" is already sources[0]'s`,
      `${where}sources[1] "team-a": api_key_env: the environment variable TEAM_B_KEY is not set`,
      `${where}sources[2] "both": set either api_key_file or api_key_env, not both`,
      `${where}sources[3] "neither": needs its key: api_key_file (a file holding it) or api_key_env (a variable holding it)`,
      `${where}sources[4] "unreadable": api_key_file: cannot read /etc/sutro/keys/missing (ENOENT)`,
      `${where}sources[5] "blank": api_key_file: /etc/sutro/keys/empty is empty`,
      `${where}sources[6] "retired": api_url: api.sutro.sh is one of Sutro's retired shared hosts: set api_url to your own Sutro deployment's URL, and use an API key created in that deployment`,
      `${where}sources[7] "cron": colour: is not a setting of a source (known: name, api_url, api_key_file, api_key_env, schedule, full_schedule, page_limit, enabled)`,
      `${where}sources[7] "cron": schedule: is not a valid cron expression (expected 5 or 6 fields but got 2) (got "every hour")`,
      `${where}sources[7] "cron": page_limit: must be a whole number from 1 to 100 (got 500)`,
      `${where}sources[8] "bad name!": name: must be 1-64 characters of letters, digits, _ . : - (got "bad name!")`,
    ]);
  });

  it('checks the key of an entry whatever else of it is wrong', () => {
    expect(
      problemsOf(`sources:
  - name: both-wrong
    api_url: https://acme.sutro.sh
    api_key_env: NOT_SET_ANYWHERE
    page_limit: 0
`),
    ).toEqual([
      'SUTRO_SOURCES_FILE (/etc/sutro/sources.yaml): sources[0] "both-wrong": page_limit: must be a whole number from 1 to 100 (got 0)',
      'SUTRO_SOURCES_FILE (/etc/sutro/sources.yaml): sources[0] "both-wrong": api_key_env: the environment variable NOT_SET_ANYWHERE is not set',
    ]);
  });

  it('refuses a key written in the file, and never repeats it', () => {
    const problems = problemsOf(`sources:
  - name: literal
    api_url: https://acme.sutro.sh
    api_key: sk_live_written_in_the_file
`);
    expect(problems).toEqual([
      'SUTRO_SOURCES_FILE (/etc/sutro/sources.yaml): sources[0] "literal": a key is never written in the sources file (setting "api_key"); put it in a file (api_key_file) or an environment variable (api_key_env) and name that instead',
    ]);
    expect(problems.join('\n')).not.toContain('sk_live_written_in_the_file');
  });

  it('says where YAML is broken, and what the file must hold', () => {
    expect(problemsOf('sources:\n  - name: [a\n')[0]).toMatch(
      /^SUTRO_SOURCES_FILE \(\/etc\/sutro\/sources\.yaml\): not valid YAML at line \d+, column \d+: /,
    );
    expect(problemsOf('- name: a\n')).toEqual([
      'SUTRO_SOURCES_FILE (/etc/sutro/sources.yaml): must hold a list under "sources:", each entry with name, api_url and api_key_file or api_key_env',
    ]);
    expect(problemsOf('sources: []\nsource: x\n')).toEqual([
      'SUTRO_SOURCES_FILE (/etc/sutro/sources.yaml): unknown top-level setting "source" (only "sources" is read)',
      'SUTRO_SOURCES_FILE (/etc/sutro/sources.yaml): "sources:" lists no source',
    ]);
    expect(problemsOf('sources:\n  - name: a\n    name: b\n')[0]).toMatch(
      /not valid YAML.*Map keys must be unique/,
    );
  });
});
