import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/db/schema.ts', './src/db/views.ts'],
  out: './drizzle',
  schemaFilter: ['sutro'],
});
