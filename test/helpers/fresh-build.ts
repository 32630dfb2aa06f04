import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** The source files whose compiled dist/ file is missing or older than they are. */
export async function staleBuild(): Promise<string[]> {
  const stale: string[] = [];
  for (const source of await sourceFiles(path.join(ROOT, 'src'))) {
    const relative = path.relative(path.join(ROOT, 'src'), source).replace(/\.ts$/, '.js');
    const built = await stat(path.join(ROOT, 'dist', relative)).catch(() => null);
    if (built === null || built.mtimeMs < (await stat(source)).mtimeMs) stale.push(relative);
  }
  return stale;
}

/**
 * The end-to-end tests run the CLI as it ships, from dist/. `npm ci` builds it (`prepare`); after an
 * edit, `npm test` or a bare `npx vitest` would test the code as it was, so the build is brought up to
 * date here, without a second type check (`npm run check` is the one that reports type errors).
 */
export async function ensureFreshBuild(): Promise<string[]> {
  const stale = await staleBuild();
  if (stale.length > 0) {
    // tsc writes dist/ even when it finds type errors; those are `npm run check`'s to report, and a
    // suite run on a work in progress should still run the end-to-end tests on the code as it is.
    await promisify(execFile)(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        path.join(ROOT, 'tsconfig.build.json'),
        '--noCheck',
      ],
      { cwd: ROOT },
    ).catch((error: { stdout?: string }) => {
      process.stderr.write(`sutro-sync tests: the build reports type errors:\n${error.stdout ?? ''}`);
    });
  }
  return stale;
}
