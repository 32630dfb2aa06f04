import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES, loadConfig } from '../../src/config.js';

const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** `NAME=value` lines, active or commented out (`# NAME=value`: the default). */
function assignments(text: string): { name: string; value: string; active: boolean }[] {
  return text.split('\n').flatMap((line) => {
    const match = /^(# )?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    return match ? [{ name: match[2] ?? '', value: match[3] ?? '', active: match[1] === undefined }] : [];
  });
}

describe('.env.example', () => {
  const lines = assignments(example);

  it('lists every variable of the configuration', () => {
    const listed = new Set(lines.map((l) => l.name));
    expect(ENVIRONMENT_VARIABLES.map(([name]) => name).filter((name) => !listed.has(name))).toEqual([]);
  });

  it("is, like the README's configuration table, complete", () => {
    const documented = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)` /gm)].map((m) => m[1]));
    expect(ENVIRONMENT_VARIABLES.map(([name]) => name).filter((name) => !documented.has(name))).toEqual([]);
  });

  it('shows the same defaults as the configuration', () => {
    for (const [name, fallback] of ENVIRONMENT_VARIABLES) {
      const line = lines.find((l) => l.name === name);
      if (line?.active === false && fallback !== '' && !fallback.startsWith('(')) {
        expect(line.value, name).toBe(fallback);
      }
    }
  });

  it('is a valid configuration as it stands, and with every default spelled out', () => {
    const active = Object.fromEntries(lines.filter((l) => l.active).map((l) => [l.name, l.value]));
    expect(loadConfig(active).sutro.apiKey).toBe('replace-with-your-sutro-api-key');
    const defaults = Object.fromEntries(
      lines.filter((l) => !l.active && !/_FILE$|^DATABASE_URL$/.test(l.name)).map((l) => [l.name, l.value]),
    );
    expect(() => loadConfig({ ...active, ...defaults })).not.toThrow();
  });
});
