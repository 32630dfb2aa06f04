import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ENVIRONMENT_VARIABLES, loadConfig } from '../../src/config.js';
import { readSourcesFile } from '../../src/sources.js';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const example = read('.env.example');
const readme = read('README.md');

/** `NAME=value` lines, active or commented out (`# NAME=value`: the default). */
function assignments(text: string): { name: string; value: string; active: boolean }[] {
  return text.split('\n').flatMap((line) => {
    const match = /^(# )?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    return match ? [{ name: match[2] ?? '', value: match[3] ?? '', active: match[1] === undefined }] : [];
  });
}

/**
 * The variables of one account, commented out beside SUTRO_SOURCES_FILE: the alternative to a
 * sources file (setting both is refused), not defaults.
 */
const SINGLE_SOURCE = new Set(['SUTRO_API_KEY', 'SUTRO_API_KEY_FILE', 'SUTRO_API_URL', 'SUTRO_SOURCE']);

interface SourceEntry {
  readonly name: string;
  readonly api_key_file?: string;
  readonly api_key_env?: string;
}

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/**
 * The example sources file in a folder of its own, as compose mounts it, with a made-up key in each
 * key file it names; and the variables its api_key_env entries name.
 */
function installSources(text: string): { file: string; env: Record<string, string> } {
  const folder = mkdtempSync(path.join(tmpdir(), 'sutro-sources-'));
  folders.push(folder);
  const file = path.join(folder, 'sources.yaml');
  writeFileSync(file, text);
  const env: Record<string, string> = {};
  for (const entry of (parse(text) as { sources: SourceEntry[] }).sources) {
    if (entry.api_key_file !== undefined) {
      const key = path.resolve(folder, entry.api_key_file);
      expect(
        key.startsWith(`${folder}${path.sep}`),
        `${entry.name}: its key file is in the mounted folder`,
      ).toBe(true);
      mkdirSync(path.dirname(key), { recursive: true });
      writeFileSync(key, `sk_example_${entry.name}\n`);
    }
    if (entry.api_key_env !== undefined) env[entry.api_key_env] = `sk_example_${entry.name}`;
  }
  return { file, env };
}

describe('.env.example', () => {
  const lines = assignments(example);
  const active = Object.fromEntries(lines.filter((l) => l.active).map((l) => [l.name, l.value]));
  const sourcesExample = read('docker/sources.example.yaml');
  const exampleNames = (parse(sourcesExample) as { sources: SourceEntry[] }).sources.map((s) => s.name);

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

  it('names the sources file in the folder docker compose mounts for each worker', () => {
    const file = active.SUTRO_SOURCES_FILE;
    expect(file, 'SUTRO_SOURCES_FILE is set').toBeDefined();
    // `<<: *worker`: a YAML 1.1 merge key, which compose v1 (PyYAML) and v2 both read.
    const compose = parse(read('docker-compose.yml'), { merge: true }) as {
      services: Record<string, { command?: string[]; volumes?: string[] }>;
    };
    const workers = Object.entries(compose.services).filter(([, s]) =>
      s.command?.join(' ').includes(' start'),
    );
    expect(workers.map(([name]) => name)).toEqual(['worker-1', 'worker-2']);
    for (const [name, service] of workers) {
      expect(service.volumes, name).toContain(`./sources:${path.posix.dirname(file ?? '')}:ro`);
    }
  });

  it('is a valid configuration as it stands, with the example sources file where compose mounts it', () => {
    const { file, env } = installSources(sourcesExample);
    const config = loadConfig({ ...active, ...env, SUTRO_SOURCES_FILE: file });
    expect(config.sources.map((s) => s.name)).toEqual(exampleNames);
    expect(config.sources.map((s) => s.apiKey)).toEqual(exampleNames.map((name) => `sk_example_${name}`));
    expect(config.sources.filter((s) => !s.enabled).map((s) => s.name)).toEqual(['archive']);
  });

  it('is valid with every default spelled out', () => {
    const { file, env } = installSources(sourcesExample);
    const defaults = Object.fromEntries(
      lines
        .filter((l) => !l.active && !/_FILE$|^DATABASE_URL$/.test(l.name) && !SINGLE_SOURCE.has(l.name))
        .map((l) => [l.name, l.value]),
    );
    expect(() => loadConfig({ ...active, ...env, SUTRO_SOURCES_FILE: file, ...defaults })).not.toThrow();
  });

  it('offers one account instead: the single-source variables, with SUTRO_SOURCES_FILE commented out', () => {
    const rest = Object.fromEntries(Object.entries(active).filter(([name]) => name !== 'SUTRO_SOURCES_FILE'));
    const single = Object.fromEntries(
      lines
        .filter((l) => !l.active && SINGLE_SOURCE.has(l.name) && !/_FILE$/.test(l.name))
        .map((l) => [l.name, l.value]),
    );
    expect(Object.keys(single).sort()).toEqual(['SUTRO_API_KEY', 'SUTRO_API_URL', 'SUTRO_SOURCE']);
    const config = loadConfig({ ...rest, ...single });
    expect(config.sources).toMatchObject([{ name: 'default', apiKey: 'replace-with-your-sutro-api-key' }]);
    expect(() => loadConfig({ ...active, ...single }), 'both at once').toThrow(/not both/);
  });
});

/** One document of a Kubernetes manifest file, as far as these tests read it. */
interface Manifest {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly data?: Record<string, string>;
  readonly stringData?: Record<string, string>;
  readonly spec?: unknown;
}

interface Volume {
  readonly name: string;
  readonly configMap?: { readonly name: string };
  readonly secret?: { readonly secretName: string };
}

interface PodSpec {
  readonly containers: readonly {
    readonly envFrom?: readonly { readonly configMapRef?: { readonly name: string } }[];
    readonly volumeMounts?: readonly {
      readonly name: string;
      readonly mountPath: string;
      readonly subPath?: string;
    }[];
  }[];
  readonly volumes?: readonly Volume[];
}

const manifests = (file: string) =>
  parseAllDocuments(read(`deploy/kubernetes/${file}`))
    .map((document) => document.toJS() as Manifest | null)
    .filter((document): document is Manifest => document !== null);

describe('the Kubernetes example', () => {
  const configMaps = manifests('configmap.yaml').filter((m) => m.kind === 'ConfigMap');
  const secret = manifests('secret.example.yaml').find((m) => m.kind === 'Secret');
  const pods: [string, PodSpec][] = [
    ...manifests('deployment.yaml')
      .filter((m) => m.kind === 'Deployment')
      .map((m): [string, PodSpec] => [
        m.metadata.name,
        (m.spec as { template: { spec: PodSpec } }).template.spec,
      ]),
    ...manifests('cronjob.yaml')
      .filter((m) => m.kind === 'CronJob')
      .map((m): [string, PodSpec] => [
        m.metadata.name,
        (m.spec as { jobTemplate: { spec: { template: { spec: PodSpec } } } }).jobTemplate.spec.template.spec,
      ]),
  ];

  it('has the Deployment and the two CronJobs', () => {
    expect(pods.map(([name]) => name).sort()).toEqual(['sutro-sync', 'sutro-sync', 'sutro-sync-full']);
  });

  it.each(pods)(
    '%s: its sources file is valid, and every key it names is a file of the mounted Secret',
    (_, pod) => {
      const [container] = pod.containers;
      const settings = configMaps.find((m) =>
        container?.envFrom?.some((e) => e.configMapRef?.name === m.metadata.name),
      );
      const file = settings?.data?.SUTRO_SOURCES_FILE;
      expect(file, 'SUTRO_SOURCES_FILE in the ConfigMap of its environment').toBeDefined();
      // Mounted as a folder, not a subPath: a subPath mount is never updated, the worker would not
      // see a change of the ConfigMap or the Secret.
      const mountOf = (volume: Volume | undefined) =>
        container?.volumeMounts?.find((m) => m.name === volume?.name && m.subPath === undefined)?.mountPath;
      const sourcesVolume = pod.volumes?.find(
        (v) => v.configMap !== undefined && mountOf(v) === path.posix.dirname(file ?? ''),
      );
      const sources = configMaps.find((m) => m.metadata.name === sourcesVolume?.configMap?.name);
      const text = sources?.data?.[path.posix.basename(file ?? '')];
      expect(text, 'the sources file, in a ConfigMap mounted at its folder').toBeDefined();

      const secretVolume = pod.volumes?.find((v) => v.secret?.secretName === secret?.metadata.name);
      const secretFiles = new Set(
        Object.keys(secret?.stringData ?? {}).map((key) =>
          path.posix.join(mountOf(secretVolume) ?? '?', key),
        ),
      );
      const keysRead: string[] = [];
      const read = readSourcesFile({
        file: file ?? '',
        folder: path.posix.dirname(file ?? ''),
        text: text ?? '',
        defaults: { pageLimit: 100, schedule: '*/15 * * * *', fullSchedule: '17 3 * * *' },
        env: {},
        readKeyFile: (keyFile) => {
          keysRead.push(keyFile);
          return 'sk_example';
        },
      });
      expect(read).not.toHaveProperty('problems');
      expect(keysRead.length).toBeGreaterThan(1);
      expect(
        keysRead.filter((key) => !secretFiles.has(key)),
        'key files the Secret does not hold',
      ).toEqual([]);
    },
  );
});
