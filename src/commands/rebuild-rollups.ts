import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { rebuildRollups } from '../db/store/rollups.js';
import { openDatabase, type CommandContext } from '../runtime.js';
import { describeHolder, keepLease, takeLease } from '../sync/lease-keeper.js';

/**
 * `sutro-sync rebuild-rollups`: computes a source's rollups anew from its jobs. The sync keeps them
 * exact by itself; this is for a database whose jobs were changed by hand, or to check the rollups
 * (status and report read them). It holds the source's lease meanwhile, as a run does, so it waits
 * for a run in progress (at most `waitSeconds`) and no run starts while it works.
 */
export async function runRebuildRollups(
  { config, log, secrets }: CommandContext,
  options: { source?: string; waitSeconds: number },
): Promise<'ok' | 'held'> {
  const source = options.source ?? config.source;
  const database = await openDatabase(config, log, {
    applicationName: 'sutro-sync rebuild-rollups',
    secrets,
  });
  try {
    const holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    const attempt = await takeLease(
      database.store,
      { source, holder, seconds: config.sync.leaseSeconds },
      { waitSeconds: options.waitSeconds, log },
    );
    if (!('lease' in attempt)) {
      process.stderr.write(
        `sutro-sync: rollups not rebuilt: ${describeHolder(source, attempt.heldBy)} (--wait)\n`,
      );
      return 'held';
    }
    const held = keepLease(database.store, attempt.lease, log);
    try {
      const started = performance.now();
      const { jobs, groups } = await rebuildRollups(database, attempt.lease);
      process.stdout.write(
        `rebuilt the rollups of source "${source}": ${jobs} jobs in ${groups} groups of day, model and status, ` +
          `${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
      return 'ok';
    } finally {
      held.stop();
      await database.store.releaseLease(attempt.lease);
    }
  } finally {
    await database.close();
  }
}
