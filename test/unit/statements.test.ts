import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderStatements } from '../../src/db/store/statements.js';

const FILE = fileURLToPath(new URL('../../drizzle/statements.sql', import.meta.url));

describe('the statements sutro-sync builds at run time', () => {
  it('are what drizzle/statements.sql shows (`npm run db:dump` refreshes it)', async () => {
    await expect(renderStatements()).toMatchFileSnapshot(FILE);
  });
});
