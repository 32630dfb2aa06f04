/**
 * The layer rules of docs/architecture.md, checked by `npm run check` (and so by `npm test`). Each
 * rule says which folder may not import which, and why; `npx depcruise src` prints the offender.
 */
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one concern split in two, or one belongs below the other.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'sutro-knows-only-http',
      severity: 'error',
      comment: 'The API client knows nothing of PostgreSQL, the sync engine or the service around it.',
      from: { path: '^src/sutro/' },
      to: { path: '^src/(db|sync|worker|commands|simulator)/|^src/(cli|runtime|metrics)\\.ts$' },
    },
    {
      name: 'sync-knows-no-database',
      severity: 'error',
      comment: 'The engine talks to storage only through the interface it declares (sync/port.ts).',
      from: { path: '^src/sync/' },
      to: { path: '^src/(db|worker|commands|simulator)/|^src/(cli|runtime|metrics)\\.ts$' },
    },
    {
      name: 'db-knows-no-http',
      severity: 'error',
      comment:
        'The database layer stores what the table of fields describes and implements the sync port; ' +
        'it knows nothing of HTTP, the engine or the service.',
      from: { path: '^src/db/' },
      to: {
        path: '^src/(sutro|sync|worker|commands|simulator)/|^src/(cli|runtime|metrics|config)\\.ts$',
        pathNot: '^src/sutro/job-fields\\.ts$|^src/sync/(port|drift)\\.ts$',
      },
    },
    {
      name: 'read-queries-write-nothing',
      severity: 'error',
      comment: 'A read-only module may not reach the write path (nothing destructive behind a read).',
      from: { path: '^src/db/read/' },
      to: { path: '^src/db/store/' },
    },
    {
      name: 'schema-is-the-bottom',
      severity: 'error',
      comment: 'The schema describes tables and views; it runs no query.',
      from: { path: '^src/db/schema/' },
      to: { path: '^src/db/(store|read|infra)/' },
    },
    {
      name: 'infrastructure-below-queries',
      severity: 'error',
      comment: 'Connections, transactions and migrations serve the queries, not the other way round.',
      from: { path: '^src/db/infra/' },
      to: { path: '^src/db/(store|read)/' },
    },
    {
      name: 'simulator-stands-alone',
      severity: 'error',
      comment: 'The simulator stands in for the API over HTTP; it shares only the table of fields.',
      from: { path: '^src/simulator/' },
      to: {
        path: '^src/(db|sync|worker|commands|sutro)/|^src/(cli|runtime|metrics|config)\\.ts$',
        pathNot: '^src/sutro/job-fields\\.ts$',
      },
    },
    {
      name: 'worker-below-commands',
      severity: 'error',
      comment: 'Commands use the worker (start); the worker uses no command.',
      from: { path: '^src/worker/' },
      to: { path: '^src/commands/|^src/cli\\.ts$' },
    },
    {
      name: 'commands-below-cli',
      severity: 'error',
      comment: 'cli.ts parses arguments and maps errors to exit codes; nothing imports it.',
      from: { path: '^src/' },
      to: { path: '^src/cli\\.ts$' },
    },
    {
      name: 'no-tests-in-src',
      severity: 'error',
      comment: 'Production code never imports a test helper.',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
