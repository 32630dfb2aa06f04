import type pg from 'pg';

/**
 * `COPY … FROM STDIN` with pg alone. pg-copy-streams is the usual way, but it is not a dependency
 * and the benchmark only needs the database floor, so this is the few lines of it that matter: a
 * "submittable" (the extension point pg-cursor and pg-query-stream use) that sends the statement,
 * answers the server's CopyInResponse with CopyData messages and CopyDone, and resolves on
 * ReadyForQuery. Chunks are pulled from an async iterable and written with the socket's
 * backpressure, so a file of any size streams through in constant memory.
 */

/** The parts of pg's internal Connection the protocol needs. */
interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

class CopyIn {
  rowCount = 0;
  private error: Error | null = null;
  readonly done: Promise<number>;
  private resolve!: (rows: number) => void;
  private reject!: (error: Error) => void;

  constructor(
    private readonly text: string,
    private readonly chunks: AsyncIterable<Buffer>,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: Connection): void {
    void this.pump(connection);
  }

  private async pump(connection: Connection): Promise<void> {
    try {
      for await (const chunk of this.chunks) {
        connection.sendCopyFromChunk(chunk);
        if (connection.stream.writableNeedDrain === true) {
          await new Promise<void>((resolve) => connection.stream.once('drain', () => resolve()));
        }
      }
      connection.endCopyFrom();
    } catch (error) {
      connection.sendCopyFail(error instanceof Error ? error.message : String(error));
    }
  }

  handleCommandComplete(message: { text?: string }): void {
    const match = /COPY (\d+)/.exec(message.text ?? '');
    this.rowCount = match?.[1] === undefined ? 0 : Number(match[1]);
  }

  handleError(error: Error): void {
    this.error = error;
  }

  handleReadyForQuery(): void {
    if (this.error !== null) this.reject(this.error);
    else this.resolve(this.rowCount);
  }

  // Not sent during COPY FROM; present so that pg never calls a missing handler.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}
}

/** Runs `text` (a `COPY … FROM STDIN`) feeding it `chunks`; resolves with the rows copied. */
export function copyFrom(
  client: pg.ClientBase,
  text: string,
  chunks: AsyncIterable<Buffer>,
): Promise<number> {
  const copy = new CopyIn(text, chunks);
  // pg accepts any object with submit(); its typings only know Query configs.
  void (client.query as unknown as (submittable: unknown) => unknown)(copy);
  return copy.done;
}

/** A value in COPY's text format: \N for null, and backslash, tab, newline and return escaped. */
export function copyText(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const text =
    typeof value === 'string'
      ? value
      : value instanceof Date
        ? value.toISOString()
        : typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : JSON.stringify(value);
  return /[\\\t\n\r]/.test(text)
    ? text.replace(/[\\\t\n\r]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
      )
    : text;
}
