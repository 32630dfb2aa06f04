import { createServer, Socket, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of a database that can freeze the way a network partition does: connections
 * stay open and nothing flows, no reset, no FIN. `freeze('established')` stops the connections open
 * now and lets new ones through (a NAT or conntrack entry dropped, a stuck pooler connection);
 * `freeze('all')` also accepts new connections and never answers them (the database host gone).
 */
export interface FreezingProxy {
  /** `target` with the proxy's host and port in its place. */
  readonly url: string;
  freeze(which: 'established' | 'all'): void;
  /** New connections pass again; frozen ones stay frozen, as after a real partition. */
  thaw(): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  frozen: boolean;
}

export async function startFreezingProxy(target: string): Promise<FreezingProxy> {
  const upstreamUrl = new URL(target);
  const links = new Set<Link>();
  let frozenForNew = false;

  const pipe = (from: Socket, to: Socket, link: Link) => {
    from.on('data', (chunk: Buffer) => {
      // Bytes that arrive after the freeze are swallowed: neither side ever hears of them.
      if (!link.frozen) to.write(chunk);
    });
    from.on('end', () => {
      if (!link.frozen) to.end();
    });
    from.on('error', () => {
      if (!link.frozen) to.destroy();
    });
  };

  const server: Server = createServer((client) => {
    const upstream = new Socket();
    const link: Link = { client, upstream, frozen: frozenForNew };
    links.add(link);
    client.on('close', () => links.delete(link));
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    if (link.frozen) return;
    upstream.connect(Number(upstreamUrl.port || 5432), upstreamUrl.hostname);
    pipe(client, upstream, link);
    pipe(upstream, client, link);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);

  return {
    url: url.toString(),
    freeze(which) {
      for (const link of links) link.frozen = true;
      frozenForNew = which === 'all';
    },
    thaw() {
      frozenForNew = false;
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
