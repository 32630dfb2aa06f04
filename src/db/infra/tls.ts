import type { ConnectionOptions } from 'node:tls';

/**
 * TLS to PostgreSQL as users of managed databases expect it. node-postgres reads `sslmode=require`
 * as verify-full (check the certificate's chain and host name) and prints a multi-line deprecation
 * warning on every run that uses it; libpq reads it as "encrypt, verify nothing" unless a CA is
 * given. sutro-sync takes the TLS parameters out of DATABASE_URL and builds node-postgres' `ssl`
 * options itself, so that the meaning is the one documented here and nothing is printed:
 *
 * | sslmode              | default (node-postgres)          | with uselibpqcompat=true (libpq)                  |
 * | -------------------- | -------------------------------- | ------------------------------------------------- |
 * | (unset)              | no TLS; with a CA set: verify-full | no TLS; with a CA set: verify-full              |
 * | disable, allow       | no TLS                           | no TLS (node-postgres cannot fall back to it)     |
 * | prefer, require      | TLS, verify chain and host name  | TLS, verify nothing; with a CA: verify-ca         |
 * | verify-ca            | TLS, verify chain and host name  | TLS, verify the chain, not the host name          |
 * | verify-full          | TLS, verify chain and host name  | TLS, verify chain and host name                   |
 * | no-verify            | TLS, verify nothing              | TLS, verify nothing                               |
 *
 * The CA is `sslrootcert=<file>` in the URL or DATABASE_CA_FILE (`system`: the public CAs Node.js
 * ships, always with verify-full, as libpq does). `sslcert`/`sslkey` give a client certificate; any
 * other `ssl…` parameter is refused.
 */

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/** URL parameters this module reads; they are removed before node-postgres sees the URL. */
const TLS_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'uselibpqcompat', 'ssl'];

export interface DatabaseConnection {
  /** DATABASE_URL without its TLS parameters. */
  readonly connectionString: string;
  /** node-postgres' `ssl` option: false for a plain connection. */
  readonly ssl: false | ConnectionOptions;
  /** What was asked for, for messages: e.g. "sslmode=require (verify-full)". */
  readonly tlsDescription: string;
}

export interface TlsInput {
  readonly url: string;
  /** DATABASE_CA_FILE: a CA bundle, unless the URL names one with sslrootcert. */
  readonly caFile: string | undefined;
  /** Reads a file named by a setting; throws what fs throws. */
  readonly readFile: (file: string) => string;
}

/**
 * Splits DATABASE_URL into a plain connection string and TLS options. Problems are returned, each
 * naming the setting to fix, so that configuration reports them with every other bad variable.
 */
export function databaseConnection(input: TlsInput): { connection?: DatabaseConnection; problems: string[] } {
  const problems: string[] = [];
  const url = new URL(input.url);
  const param = (name: string) => url.searchParams.get(name) ?? undefined;
  const sslmode = param('sslmode');
  const libpq = param('uselibpqcompat') === 'true';
  const ssl = param('ssl');
  const rootcert = param('sslrootcert');
  const certPath = param('sslcert');
  const keyPath = param('sslkey');
  // Any other TLS parameter libpq knows (sslnegotiation, sslpassword, sslcrl, …) node-postgres either
  // ignores or turns into `ssl: true`, which would drop the options built here: refused by name.
  const unsupported = [...url.searchParams.keys()].filter(
    (name) => /^ssl/i.test(name) && !TLS_PARAMETERS.includes(name),
  );
  for (const name of TLS_PARAMETERS) url.searchParams.delete(name);
  for (const name of unsupported) {
    problems.push(
      `DATABASE_URL: ${name} is not supported; TLS takes sslmode, sslrootcert, sslcert, sslkey and uselibpqcompat`,
    );
  }

  const read = (file: string, setting: string): string | undefined => {
    try {
      return input.readFile(file);
    } catch (error) {
      problems.push(`${setting}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };
  const caSetting = rootcert !== undefined ? 'DATABASE_URL (sslrootcert)' : 'DATABASE_CA_FILE';
  const caPath = rootcert ?? input.caFile;
  const ca = caPath === undefined || caPath === 'system' ? undefined : read(caPath, caSetting);
  const cert = certPath === undefined ? undefined : read(certPath, 'DATABASE_URL (sslcert)');
  const key = keyPath === undefined ? undefined : read(keyPath, 'DATABASE_URL (sslkey)');

  if (sslmode !== undefined && !SSL_MODES.includes(sslmode)) {
    problems.push(`DATABASE_URL: sslmode=${sslmode} is not one of ${SSL_MODES.join(', ')}`);
  }
  if (problems.length > 0) return { problems };

  const secured: ConnectionOptions = {
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
  };
  const verifyFull = { ...secured };
  // sslrootcert=system names the public CAs, which only mean something with the host name checked.
  const verifyNothing = caPath === 'system' ? verifyFull : { ...secured, rejectUnauthorized: false };
  const verifyChain = { ...secured, checkServerIdentity: () => undefined };
  const wantsTls = ssl === 'true' || ssl === '1' || caPath !== undefined;
  const mode = sslmode ?? (wantsTls ? 'verify-full' : 'disable');

  let options: false | ConnectionOptions;
  let meaning: string;
  switch (mode) {
    case 'disable':
    case 'allow':
      [options, meaning] = [false, 'no TLS'];
      break;
    case 'no-verify':
      [options, meaning] = [verifyNothing, 'TLS, certificate not verified'];
      break;
    case 'prefer':
    case 'require':
      if (!libpq) [options, meaning] = [verifyFull, 'verify-full, as node-postgres reads it'];
      else if (ca !== undefined) [options, meaning] = [verifyChain, 'verify-ca, as libpq reads it with a CA'];
      else [options, meaning] = [verifyNothing, 'TLS, certificate not verified, as libpq reads it'];
      break;
    case 'verify-ca':
      [options, meaning] = libpq
        ? [verifyChain, 'verify-ca']
        : [verifyFull, 'verify-full, as node-postgres reads it'];
      break;
    default:
      [options, meaning] = [verifyFull, 'verify-full'];
  }
  return {
    connection: {
      connectionString: url.toString(),
      ssl: options,
      tlsDescription: `sslmode=${sslmode ?? '(unset)'}${libpq ? ' with uselibpqcompat=true' : ''}: ${meaning}`,
    },
    problems,
  };
}
