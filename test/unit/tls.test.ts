import { describe, expect, it } from 'vitest';
import { databaseConnection } from '../../src/db/infra/tls.js';

const files: Record<string, string> = { '/ca.pem': 'CA', '/cert.pem': 'CERT', '/key.pem': 'KEY' };
const read = (url: string, caFile?: string) =>
  databaseConnection({
    url,
    caFile,
    readFile: (file) => {
      const content = files[file];
      if (content === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return content;
    },
  });
const ssl = (url: string, caFile?: string) => read(url, caFile).connection?.ssl;
const base = 'postgresql://u:p@db.example.com:5432/sutro';

describe('databaseConnection', () => {
  it.each([
    ['', undefined, false],
    ['?sslmode=disable', '/ca.pem', false],
    ['', '/ca.pem', { ca: 'CA' }],
    ['?sslmode=require', undefined, {}],
    ['?sslmode=require', '/ca.pem', { ca: 'CA' }],
    ['?sslmode=verify-ca', undefined, {}],
    ['?sslmode=no-verify', undefined, { rejectUnauthorized: false }],
    ['?sslmode=require&uselibpqcompat=true', undefined, { rejectUnauthorized: false }],
    ['?sslmode=require&uselibpqcompat=true&sslrootcert=system', undefined, {}],
    ['?sslmode=require&sslcert=/cert.pem&sslkey=/key.pem', '/ca.pem', { ca: 'CA', cert: 'CERT', key: 'KEY' }],
  ])('%s with DATABASE_CA_FILE=%s gives %j', (params, caFile, expected) => {
    expect(ssl(base + params, caFile)).toEqual(expected);
  });

  it('checks the chain alone for libpq verify-ca and for libpq require with a CA', () => {
    for (const params of ['?sslmode=verify-ca&uselibpqcompat=true', '?sslmode=require&uselibpqcompat=true']) {
      const options = ssl(base + params, '/ca.pem');
      expect(options).toMatchObject({ ca: 'CA' });
      expect(typeof (options as { checkServerIdentity?: unknown }).checkServerIdentity).toBe('function');
    }
  });

  it('hands node-postgres the URL without any TLS parameter, so it neither warns nor overrides', () => {
    const { connection } = read(
      `${base}?sslmode=require&sslrootcert=/ca.pem&uselibpqcompat=true&application_name=x`,
    );
    expect(connection?.connectionString).toBe(`${base}?application_name=x`);
  });

  it('refuses the TLS parameters it does not implement, naming each', () => {
    expect(read(`${base}?sslmode=require&sslnegotiation=direct&sslpassword=x`).problems).toEqual([
      'DATABASE_URL: sslnegotiation is not supported; TLS takes sslmode, sslrootcert, sslcert, sslkey and uselibpqcompat',
      'DATABASE_URL: sslpassword is not supported; TLS takes sslmode, sslrootcert, sslcert, sslkey and uselibpqcompat',
    ]);
  });
});
