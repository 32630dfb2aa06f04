import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadEmbeddedPostgres } from '../../src/db/infra/embedded.js';
import { freePort } from './ports.js';

export interface OwnPostgres {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL server of the test's own, in a temporary folder: for the suite when no other server
 * is at hand, and for tests that stop and restart their database.
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sutro-sync-test-pg-'));
  const port = await freePort();
  const isRoot = process.getuid?.() === 0;
  // As root, the server runs as user postgres, which must be able to enter the folder.
  if (isRoot) await chmod(dir, 0o777);
  // Not a plain import: the package hooks process signals and exit codes (see src/db/infra/embedded.ts).
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'test',
    persistent: true,
    createPostgresUser: isRoot,
    // A test server: initdb does not sync its files, nor the server its writes (fsync=off).
    initdbFlags: ['--encoding=UTF8', '--no-locale', '--no-sync'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  return {
    url: `postgresql://postgres:test@127.0.0.1:${port}/postgres`,
    port,
    stop: () => server.stop(),
    start: () => server.start(),
    async destroy() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
