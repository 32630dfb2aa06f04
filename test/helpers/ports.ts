import { createServer, type AddressInfo } from 'node:net';

/**
 * A port nothing listens on now, from the kernel. A random pick in a fixed range can meet another
 * test's server, or a client socket's own port (such ranges lie inside Linux's ephemeral range).
 */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
