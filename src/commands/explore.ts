import { once } from 'node:events';
import { openDatabase, type CommandContext } from '../runtime.js';

/** A first query worth running, for the line explore prints. */
const EXAMPLE = `SELECT model, count(*) AS jobs, sum(job_cost) AS usd FROM sutro.jobs GROUP BY 1 ORDER BY 3 DESC NULLS LAST`;

/**
 * `sutro-sync explore`: keeps the database up, migrated, for psql or a BI tool, and prints how to
 * connect. With the embedded PostgreSQL (no DATABASE_URL) the server lives only as long as a
 * sutro-sync process, so the line the demo prints works while this runs; Ctrl-C stops it. With
 * DATABASE_URL, the server runs by itself: the command prints the line and exits.
 */
export async function runExplore({ config, log, secrets }: CommandContext): Promise<number> {
  const database = await openDatabase(config, log, {
    secrets,
    applicationName: 'sutro-sync explore',
    longLived: true,
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const password = database.passwordFile === null ? '' : `PGPASSFILE=${database.passwordFile} `;
    out(`${password}psql '${database.displayUrl}' -c "${EXAMPLE}"`);
    if (database.passwordFile === null) return 0;
    process.stderr.write(
      'The embedded PostgreSQL is up; run the line above in another terminal, or point a BI tool at it. Ctrl-C stops it.\n',
    );
    await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    return 0;
  } finally {
    await database.close();
  }
}
