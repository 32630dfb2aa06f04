import { createRequire } from 'node:module';
import path from 'node:path';
import cron from 'node-cron';
import { z } from 'zod';
import { readDeployment } from './sutro/deployment.js';

/**
 * The sources one process syncs: the accounts of an organisation, each read with its own key, from
 * the file SUTRO_SOURCES_FILE names, or the one source the single-source variables describe
 * (SUTRO_API_URL, SUTRO_API_KEY, SUTRO_SOURCE). The file holds keys by reference only: a file
 * (a Kubernetes or Docker secret) or an environment variable, never the key itself, so that the file
 * can live in a ConfigMap or a repository.
 */
export interface SourceConfig {
  /** The label its rows carry in the database (sutro.jobs.source and the rest). */
  readonly name: string;
  /** `<deployment origin>/v1`, read as Sutro's SDK reads SUTRO_API_URL. */
  readonly apiUrl: string;
  readonly apiKey: string;
  /** Where the key comes from, for messages: never the key itself. */
  readonly keyFrom: string;
  readonly pageLimit: number;
  readonly schedule: string;
  readonly fullSchedule: string;
  /** A disabled source is not synced; its data stays, and `status` and `report` still show it. */
  readonly enabled: boolean;
}

/** What every source gets unless its entry says otherwise: the environment's settings. */
export interface SourceDefaults {
  readonly pageLimit: number;
  readonly schedule: string;
  readonly fullSchedule: string;
}

export interface SourcesFileContext {
  /** SUTRO_SOURCES_FILE as given, for messages. */
  readonly file: string;
  /** The folder it is in: key files are relative to it. */
  readonly folder: string;
  /** The file's text. */
  readonly text: string;
  readonly defaults: SourceDefaults;
  /** The environment, for api_key_env. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a key file, a path relative to the sources file's folder; throws as fs does. */
  readonly readKeyFile: (resolvedPath: string) => string;
}

/**
 * The YAML reader, loaded when a sources file is read: most commands run without one, and every
 * command is a process that pays for each module it loads (a sync from cron, a status).
 */
const loadYaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

/** A source name: what SUTRO_SOURCE accepts. */
export const SOURCE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
export const SOURCE_NAME_RULE = 'must be 1-64 characters of letters, digits, _ . : -';

const SETTINGS = [
  'name',
  'api_url',
  'api_key_file',
  'api_key_env',
  'schedule',
  'full_schedule',
  'page_limit',
  'enabled',
] as const;

/** Settings that would hold the key itself, refused with the reason rather than as unknown. */
const LITERAL_KEY_SETTINGS = new Set(['api_key', 'apikey', 'key', 'sutro_api_key']);

/** A cron expression's problem in words, or null; node-cron is what runs it. */
export function cronProblem(value: string): string | null {
  const result = cron.validateDetailed(value);
  if (result.valid) return null;
  const why = result.errors
    .map((e) => (e.field === 'expression' ? e.message : `${e.field}: ${e.message}`))
    .join(', ');
  return `is not a valid cron expression (${why})`;
}

const text = (what: string) =>
  z.string({ error: `must be ${what}` }).refine((value) => value.trim() !== '', `must be ${what}, not empty`);

const cronSetting = text('a cron expression, such as "*/15 * * * *"').superRefine((value, ctx) => {
  const problem = cronProblem(value);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

const entrySchema = z.object({
  name: text("the source's name").refine((value) => SOURCE_NAME.test(value), SOURCE_NAME_RULE),
  api_url: text("your Sutro deployment's URL, https://<deployment>"),
  api_key_file: text('the path of a file holding the key').optional(),
  api_key_env: text('the name of an environment variable holding the key')
    .refine((value) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(value), 'must be the name of an environment variable')
    .optional(),
  schedule: cronSetting.optional(),
  full_schedule: cronSetting.optional(),
  page_limit: z
    .number({ error: 'must be a whole number from 1 to 100' })
    .int('must be a whole number from 1 to 100')
    .min(1, 'must be a whole number from 1 to 100')
    .max(100, 'must be a whole number from 1 to 100')
    .optional(),
  enabled: z.boolean({ error: 'must be true or false' }).optional(),
});

/** The value of a setting as a message may quote it. */
function shown(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? JSON.stringify(value)
    : Array.isArray(value)
      ? 'a list'
      : value === null
        ? 'nothing'
        : 'a mapping';
}

/**
 * Reads and validates a sources file whole: every bad entry is named, by its place and name, with
 * the setting at fault and what it wants. Returns the sources, or the problems (at least one).
 */
export function readSourcesFile(
  context: SourcesFileContext,
): { readonly sources: readonly SourceConfig[] } | { readonly problems: readonly string[] } {
  const where = `SUTRO_SOURCES_FILE (${context.file})`;
  const { isMap, isSeq, parseDocument } = loadYaml();
  const document = parseDocument(context.text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    return {
      problems: document.errors.map((error) => {
        const at = error.linePos?.[0];
        const line = error.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'invalid';
        return `${where}: not valid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${line}`;
      }),
    };
  }
  const root = document.contents;
  const list = isMap(root) ? root.get('sources', true) : undefined;
  if (!isMap(root) || !isSeq(list)) {
    return {
      problems: [
        `${where}: must hold a list under "sources:", each entry with name, api_url and api_key_file or api_key_env`,
      ],
    };
  }
  const problems: string[] = [];
  for (const key of root.items.map((item) => String((item.key as { value?: unknown } | null)?.value)))
    if (key !== 'sources')
      problems.push(`${where}: unknown top-level setting "${key}" (only "sources" is read)`);
  const entries = (list.toJSON() as unknown[]) ?? [];
  if (entries.length === 0) problems.push(`${where}: "sources:" lists no source`);

  const sources: SourceConfig[] = [];
  const seen = new Map<string, number>();
  const { folder } = context;
  entries.forEach((entry, index) => {
    const rawName =
      typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).name : undefined;
    const label = `${where}: sources[${index}]${typeof rawName === 'string' ? ` "${rawName}"` : ''}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(
        `${label}: must be a mapping of settings (name, api_url, api_key_file or api_key_env, …)`,
      );
      return;
    }
    const raw = entry as Record<string, unknown>;
    const before = problems.length;
    for (const key of Object.keys(raw)) {
      if (LITERAL_KEY_SETTINGS.has(key.toLowerCase())) {
        // Worded so that the name is not followed by a colon, which redaction reads as a secret field.
        problems.push(
          `${label}: a key is never written in the sources file (setting "${key}"); put it in a file ` +
            '(api_key_file) or an environment variable (api_key_env) and name that instead',
        );
      } else if (!(SETTINGS as readonly string[]).includes(key)) {
        problems.push(`${label}: ${key}: is not a setting of a source (known: ${SETTINGS.join(', ')})`);
      }
    }
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const setting = String(issue.path[0] ?? 'entry');
        if (issue.code === 'invalid_type' && raw[setting] === undefined) {
          problems.push(`${label}: ${setting}: is required`);
        } else {
          problems.push(`${label}: ${setting}: ${issue.message} (got ${shown(raw[setting])})`);
        }
      }
    }
    const value = parsed.data;
    if (value !== undefined) {
      const earlier = seen.get(value.name);
      if (earlier !== undefined)
        problems.push(`${label}: name: "${value.name}" is already sources[${earlier}]'s`);
      else seen.set(value.name, index);
    }

    const deployment =
      typeof raw.api_url === 'string'
        ? readDeployment(raw.api_url, { url: 'api_url', key: 'api_key_file or api_key_env' })
        : null;
    if (deployment !== null && 'problem' in deployment)
      problems.push(`${label}: api_url: ${deployment.problem}`);

    let apiKey: string | undefined;
    let keyFrom = '';
    if (raw.api_key_file !== undefined && raw.api_key_env !== undefined) {
      problems.push(`${label}: set either api_key_file or api_key_env, not both`);
    } else if (raw.api_key_file === undefined && raw.api_key_env === undefined) {
      if (![...Object.keys(raw)].some((key) => LITERAL_KEY_SETTINGS.has(key.toLowerCase())))
        problems.push(
          `${label}: needs its key: api_key_file (a file holding it) or api_key_env (a variable holding it)`,
        );
    } else if (typeof raw.api_key_file === 'string' && raw.api_key_file.trim() !== '') {
      // Read whatever else of the entry is wrong: every problem of the file is named in one pass.
      const resolved = path.resolve(folder, raw.api_key_file);
      keyFrom = `api_key_file ${resolved}`;
      try {
        apiKey = context.readKeyFile(resolved).trim();
        if (apiKey === '') problems.push(`${label}: api_key_file: ${resolved} is empty`);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        problems.push(`${label}: api_key_file: cannot read ${resolved} (${code})`);
      }
    } else if (typeof raw.api_key_env === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(raw.api_key_env)) {
      keyFrom = `api_key_env ${raw.api_key_env}`;
      apiKey = context.env[raw.api_key_env]?.trim();
      if (apiKey === undefined || apiKey === '')
        problems.push(`${label}: api_key_env: the environment variable ${raw.api_key_env} is not set`);
    }
    if (apiKey !== undefined && /\s/.test(apiKey))
      problems.push(`${label}: the key (${keyFrom}) must not contain whitespace`);

    if (problems.length > before || value === undefined || deployment === null || 'problem' in deployment)
      return;
    sources.push({
      name: value.name,
      apiUrl: deployment.deployment.base,
      apiKey: apiKey ?? '',
      keyFrom,
      pageLimit: value.page_limit ?? context.defaults.pageLimit,
      schedule: value.schedule ?? context.defaults.schedule,
      fullSchedule: value.full_schedule ?? context.defaults.fullSchedule,
      enabled: value.enabled ?? true,
    });
  });
  return problems.length > 0 ? { problems } : { sources };
}
