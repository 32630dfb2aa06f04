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

/**
 * `secrets` are the values known to be secret (the API key, the database password); shorter than 4
 * characters they are too likely to be ordinary text to be replaced everywhere.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const spelling of spellings(secret)) result = result.split(spelling).join(REDACTED);
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
