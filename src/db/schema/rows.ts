import type { Column, Table, View } from 'drizzle-orm';

type ColumnsOf<T extends Table | View> = T extends Table
  ? T['_']['columns']
  : T extends View
    ? T['_']['selectedFields']
    : never;

type ValueOf<C> = C extends Column
  ? C['_']['notNull'] extends true
    ? C['_']['data']
    : C['_']['data'] | null
  : never;

/**
 * A row of a table or view as a query of ours returns it: keyed by the database's column names, each
 * value of the type the schema declares (int8 arrives as a number, see infra/connect.ts). Queries
 * pick the columns they read: `Pick<RowOf<typeof syncRuns>, 'id' | 'status'>`.
 */
export type RowOf<T extends Table | View> = {
  [K in keyof ColumnsOf<T> as ColumnsOf<T>[K] extends Column ? ColumnsOf<T>[K]['_']['name'] : never]: ValueOf<
    ColumnsOf<T>[K]
  >;
};
