import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startTlsPostgres, type TlsPostgres } from '../helpers/tls-postgres.js';

/**
 * TLS as users of managed PostgreSQL meet it: a server that takes TLS only, a certificate from a
 * private CA. `migrate` connects, checks the server and migrates: exit 0 when that worked, 3 when
 * the database could not be used, with one line saying which setting to fix.
 */

let server: TlsPostgres | undefined;
beforeAll(async () => {
  server = await startTlsPostgres();
}, 120_000);
// A beforeAll that failed left no server; its own error is the one to read.
afterAll(async () => {
  await server?.destroy();
});

function started(): TlsPostgres {
  if (server === undefined) throw new Error('the TLS-only PostgreSQL did not start (see beforeAll)');
  return server;
}

const url = (params = '', host = 'localhost') => {
  const u = new URL(started().url);
  u.hostname = host;
  u.search = params;
  return u.toString();
};

async function migrate(env: Record<string, string>) {
  const result = await runCli(['migrate'], env);
  // node-postgres' multi-line deprecation warning for sslmode=require must never be printed.
  expect(result.stderr).not.toMatch(/SECURITY WARNING|DeprecationWarning/);
  return result;
}

describe('a TLS-only PostgreSQL with a private CA', () => {
  it('connects with sslmode=require and the CA in DATABASE_CA_FILE, or in sslrootcert', async () => {
    const withFile = await migrate({
      DATABASE_URL: url('?sslmode=require'),
      DATABASE_CA_FILE: started().caFile,
    });
    expect(withFile.code, withFile.stderr).toBe(0);
    const inUrl = await migrate({ DATABASE_URL: url(`?sslmode=require&sslrootcert=${started().caFile}`) });
    expect(inUrl.code, inUrl.stderr).toBe(0);
    // A CA alone asks for TLS, verified.
    const caOnly = await migrate({ DATABASE_URL: url(), DATABASE_CA_FILE: started().caFile });
    expect(caOnly.code, caOnly.stderr).toBe(0);
  });

  it('refuses a certificate from another CA, naming the setting to fix', async () => {
    const wrong = await migrate({
      DATABASE_URL: url('?sslmode=require'),
      DATABASE_CA_FILE: started().wrongCaFile,
    });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(
      /^sutro-sync: Cannot connect to localhost:\d+\/postgres \(DATABASE_URL\): the server's TLS certificate is not signed by a CA sutro-sync trusts \(\w+\): set DATABASE_CA_FILE, or sslrootcert=<file> in DATABASE_URL, to your provider's CA bundle/,
    );
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    // sslmode=require without a CA: node-postgres verifies it, against the public CAs.
    const none = await migrate({ DATABASE_URL: url('?sslmode=require') });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('set DATABASE_CA_FILE');
  });

  it("gives libpq's meaning on request: require encrypts without verifying, verify-ca skips the host name", async () => {
    const require = await migrate({ DATABASE_URL: url('?uselibpqcompat=true&sslmode=require') });
    expect(require.code, require.stderr).toBe(0);
    // The certificate names localhost; by address, only a check of the chain alone passes.
    const byAddress = await migrate({
      DATABASE_URL: url('?sslmode=verify-full', '127.0.0.1'),
      DATABASE_CA_FILE: started().caFile,
    });
    expect(byAddress.code).toBe(3);
    expect(byAddress.stderr).toContain("the server's TLS certificate names another host");
    const chainOnly = await migrate({
      DATABASE_URL: url('?uselibpqcompat=true&sslmode=verify-ca', '127.0.0.1'),
      DATABASE_CA_FILE: started().caFile,
    });
    expect(chainOnly.code, chainOnly.stderr).toBe(0);
  });

  it('says that the server takes TLS only when asked for a plain connection', async () => {
    const plain = await migrate({ DATABASE_URL: url() });
    expect(plain.code).toBe(3);
    expect(plain.stderr).toMatch(
      /the server accepts only TLS connections .*: add sslmode=require to DATABASE_URL/,
    );
  });

  it('names DATABASE_CA_FILE or sslrootcert when the file cannot be read, before connecting', async () => {
    const missing = await migrate({
      DATABASE_URL: url('?sslmode=require'),
      DATABASE_CA_FILE: '/nonexistent/ca.pem',
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('DATABASE_CA_FILE: cannot read /nonexistent/ca.pem (ENOENT)');
    const inUrl = await migrate({ DATABASE_URL: url('?sslmode=require&sslrootcert=/nonexistent/ca.pem') });
    expect(inUrl.code).toBe(2);
    expect(inUrl.stderr).toContain('DATABASE_URL (sslrootcert): cannot read /nonexistent/ca.pem (ENOENT)');
    const badMode = await migrate({ DATABASE_URL: url('?sslmode=required') });
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toContain(
      'DATABASE_URL: sslmode=required is not one of disable, allow, prefer, require',
    );
  });
});
