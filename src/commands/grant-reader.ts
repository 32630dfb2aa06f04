import { grantReader, UnknownRoleError } from '../db/infra/grants.js';
import { openDatabase, type CommandContext } from '../runtime.js';

/**
 * `sutro-sync grant-reader <role>`: read-only access for a BI tool or an analyst. Migrates first, so
 * that the grant covers the views of this version. Returns 'usage' for a role that does not exist,
 * after saying so on stderr.
 */
export async function runGrantReader(
  { config, log, secrets }: CommandContext,
  role: string,
): Promise<'ok' | 'usage'> {
  const database = await openDatabase(config, log, { applicationName: 'sutro-sync grant-reader', secrets });
  try {
    const grant = await grantReader(database, role);
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(
      `"${grant.role}" can now read schema sutro: ${grant.relations} tables and views, and those later ` +
        `migrations create as "${grant.owner}".` +
        (grant.readOnlyByDefault
          ? ' Its transactions in this database are read-only unless it asks otherwise.'
          : '') +
        (grant.warnings.length === 0 ? ' It cannot write to them.' : ''),
    );
    for (const warning of grant.warnings) out(`warning: ${warning}`);
    return 'ok';
  } catch (error) {
    if (!(error instanceof UnknownRoleError)) throw error;
    process.stderr.write(`sutro-sync: ${error.message}\n`);
    return 'usage';
  } finally {
    await database.close();
  }
}
