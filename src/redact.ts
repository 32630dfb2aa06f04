/**
 * Removes secrets from any text that may be stored, logged or printed: an error body of the API, an
 * error message, a log line. Every path out of the process goes through here (the logger's stream
 * hook, the run's stored error, the CLI's last line, `status`), because an API that repeats the
 * request's `Authorization` header in an error body would otherwise put the key in the database,
 * where the read-only BI role and the Grafana dashboard can see it.
 */

export const REDACTED = '[REDACTED]';

/**
 * A credential after an HTTP auth scheme: `Key sk_live_…`, `Bearer eyJ…`. The token must look like
 * one (8+ characters, a digit among them), so that prose such as "Bearer token-based" or
 * PostgreSQL's "Key (source, job_id)=…" keeps its words.
 */
const SCHEME_CREDENTIAL = /\b(Key|Bearer|Token|Basic)(\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}/gi;

/**
 * The value of a header or field whose name says it is a secret, in the forms error bodies take:
 * `Authorization: …`, `"authorization": "…"`, `"x-api-key": ["…"]`, `api_key=…`, `API key: …`,
 * `<td>x-api-key</td><td>…`, and the same inside a JSON string, where its quotes are escaped
 * (`\"authorization\": \"…\"` in a log line). A name inside a longer one (SUTRO_API_KEY in a
 * configuration error) is not a field.
 */
const SECRET_FIELD =
  /((?<![\w-])(?:authorization|x-api-key|api[\s_-]?key|apikey|access[_-]?token|password)(?:\\?["'])?(?:\s*<\/t[dh]>\s*<t[dh][^>]*>\s*|\s*[:=]\s*)(?:\[\s*)?(?:\\?["'])?)([^"'\\\r\n<>,}&\]]+)/gi;

/** Forms a secret takes inside other text: as it is, JSON-escaped, URL-encoded. */
function spellings(secret: string): string[] {
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])];
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What a token is made of: a secret's text is a credential only where it stands alone, not inside a
 * longer word, name or host (`test` in `sutro-doctor-test.invalid`).
 */
const TOKEN = String.raw`[\p{L}\p{N}_-]`;

/**
 * Whether a secret can be told apart from ordinary text by its letters alone: it mixes letters with
 * digits, or holds a symbol (a key, a generated password). A word, a name, a number, or such joined
 * by - _ . or spaces (sutro, postgres, tls-test, sutro_sync, 2024) is also ordinary text, in the
 * output of every command; as such it is hidden only where it stands as a credential (see
 * credentialPositions).
 */
function isDistinctive(secret: string): boolean {
  const letters = /\p{L}/u.test(secret);
  const digits = /\p{N}/u.test(secret);
  return (letters && digits) || /[^\p{L}\p{N}\s_.-]/u.test(secret);
}

/**
 * Where any secret's text is a credential, whatever it looks like: a URL's password
 * (`postgresql://user:<it>@host`), and the token after an HTTP auth scheme (`Key <it>`). The values of
 * fields named as secrets are taken out by SECRET_FIELD, known or not.
 */
function credentialPositions(spelling: string): RegExp[] {
  const it = `${escape(spelling)}(?!${TOKEN})`;
  return [
    new RegExp(`(:\\/\\/[^\\s/?#@:]*:)${it}(?=@)`, 'gu'),
    new RegExp(`(\\b(?:Key|Bearer|Token|Basic)\\s+)${it}`, 'giu'),
  ];
}

/**
 * A distinctive secret's text where it stands alone, bounded by what is not part of a token. Its
 * empty group keeps nothing before the secret, as the credential positions keep their prefix.
 */
const standingAlone = (spelling: string) =>
  new RegExp(`()(?<!${TOKEN})${escape(spelling)}(?!${TOKEN})`, 'gu');

/** Each secret's patterns, compiled once: the logger scrubs every line it writes. */
const compiled = new Map<string, readonly RegExp[]>();

function patternsOf(secret: string): readonly RegExp[] {
  let patterns = compiled.get(secret);
  if (patterns === undefined) {
    patterns = spellings(secret).flatMap((spelling) => [
      ...credentialPositions(spelling),
      ...(isDistinctive(secret) ? [standingAlone(spelling)] : []),
    ]);
    compiled.set(secret, patterns);
  }
  return patterns;
}

/**
 * `secrets` are the values known to be secret (the API key, the database password). Shorter than 4
 * characters they are too likely to be ordinary text to be looked for at all; the others are taken out
 * where they are credentials, and, when distinctive, wherever they stand alone.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const pattern of patternsOf(secret))
      result = result.replace(pattern, (_, before: string) => `${before}${REDACTED}`);
  }
  return result
    .replace(SECRET_FIELD, (_, name: string) => `${name}${REDACTED}`)
    .replace(SCHEME_CREDENTIAL, (_, scheme: string, space: string) => `${scheme}${space}${REDACTED}`);
}

/**
 * The secrets a process knows, for everything it prints to scrub: the API key and database password
 * from the configuration, and the embedded server's password once it is known.
 */
export class Secrets {
  private readonly known: string[] = [];

  add(...values: readonly (string | undefined)[]): void {
    for (const value of values) if (value !== undefined && value.length >= 4) this.known.push(value);
  }

  redact(text: string): string {
    return redactSecrets(text, this.known);
  }
}

/** The password of a postgres:// URL, as a secret to redact; none when it has none or does not parse. */
export function passwordOf(databaseUrl: string | undefined): string[] {
  if (databaseUrl === undefined || !URL.canParse(databaseUrl)) return [];
  const password = decodeURIComponent(new URL(databaseUrl).password);
  return password === '' ? [] : [password];
}
