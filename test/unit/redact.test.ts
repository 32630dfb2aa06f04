import { describe, expect, it } from 'vitest';
import { redactSecrets, Secrets } from '../../src/redact.js';

describe('redactSecrets', () => {
  it('removes a known secret however it is spelled in the text', () => {
    const key = 'sk_live_a"b/c';
    for (const text of [`key ${key} refused`, JSON.stringify({ key }), `?key=${encodeURIComponent(key)}`]) {
      expect(redactSecrets(text, [key])).not.toMatch(/sk_live_a/);
    }
  });

  it.each([
    ['{"headers":{"authorization":"Key sk_other_123"}}', '{"headers":{"authorization":"[REDACTED]"}}'],
    ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc\nX-Id: 1', 'Authorization: [REDACTED]\nX-Id: 1'],
    [
      '<tr><td>Authorization</td><td>Key sk_other_123</td></tr>',
      '<tr><td>Authorization</td><td>[REDACTED]</td></tr>',
    ],
    [
      '{"msg":"body \\"authorization\\": \\"Key sk_other_123\\""}',
      '{"msg":"body \\"authorization\\": \\"[REDACTED]\\""}',
    ],
    ['rejected Key sk_other_123 for this account', 'rejected Key [REDACTED] for this account'],
    ['GET /x?api_key=sk_other_123&page=2', 'GET /x?api_key=[REDACTED]&page=2'],
    ['{"x-api-key":["sk_live_abc123"]}', '{"x-api-key":["[REDACTED]"]}'],
    ['{"authorization": ["Key abcdefghijklmnop1"]}', '{"authorization": ["[REDACTED]"]}'],
    ['Invalid API key: sk_live_abc123', 'Invalid API key: [REDACTED]'],
  ])('removes a credential the process does not know, by its shape: %s', (text, redacted) => {
    expect(redactSecrets(text)).toBe(redacted);
  });

  it.each([
    'duplicate key value violates unique constraint "jobs_pkey"',
    'Key (source, job_id)=(a, b) already exists.',
    'Primary Key constraint',
    'SUTRO_API_KEY: is required for this command (or set SUTRO_API_KEY_FILE)',
    'password authentication failed for user "sutro"',
    'Bearer token-based authentication failed',
    'Basic information_schema access denied',
  ])('keeps the words of ordinary messages: %s', (text) => {
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactSecrets with known secrets that are ordinary words', () => {
  it.each([
    ['sutro', 'role "postgres" can write schema sutro'],
    ['sutro', '`sutro-sync sync` runs the first (full) sync'],
    ['sutro', 'database "sutro_sync" as role "sutro"'],
    ['postgres', 'database: postgresql://postgres:***@127.0.0.1:5432/sutro'],
    ['test', 'cannot resolve sutro-doctor-test.invalid (ENOTFOUND)'],
    ['tls-test', 'tls-test passed'],
    ['2024', 'jobs of 2024 and 2024-11-01'],
  ])('keeps %j where it is a word of the text: %s', (secret, text) => {
    expect(redactSecrets(text, [secret])).toBe(text);
  });

  it.each([
    ['postgres', 'postgresql://postgres:postgres@db:5432/x', 'postgresql://postgres:[REDACTED]@db:5432/x'],
    [
      'sutro',
      'connect to postgres://sutro:sutro@db/sutro',
      'connect to postgres://sutro:[REDACTED]@db/sutro',
    ],
    ['sim-key', 'rejected Key sim-key for this account', 'rejected Key [REDACTED] for this account'],
    ['hunter', '{"password":"hunter"}', '{"password":"[REDACTED]"}'],
    ['p@ss word', 'postgres://u:p%40ss%20word@db/x', 'postgres://u:[REDACTED]@db/x'],
  ])('hides %j where it stands as a credential: %s', (secret, text, redacted) => {
    expect(redactSecrets(text, [secret])).toBe(redacted);
  });
});

describe('redactSecrets with distinctive known secrets', () => {
  it.each([
    ['key sk_live_abc123 rejected.', 'key [REDACTED] rejected.'],
    ['(sk_live_abc123)', '([REDACTED])'],
    ['"detail": "sk_live_abc123"', '"detail": "[REDACTED]"'],
    ['sk_live_abc123.example.com', '[REDACTED].example.com'],
  ])('hides one wherever it stands alone: %s', (text, redacted) => {
    expect(redactSecrets(text, ['sk_live_abc123'])).toBe(redacted);
  });

  it.each(['job_sk_live_abc123', 'sk_live_abc1234', 'xsk_live_abc123', 'sk_live_abc123-rotated'])(
    'keeps a longer token that holds one: %s',
    (text) => {
      expect(redactSecrets(text, ['sk_live_abc123'])).toBe(text);
    },
  );
});

describe('Secrets', () => {
  it('scrubs what it was told, from the moment it is told, and ignores values too short to be secret', () => {
    const secrets = new Secrets();
    secrets.add('abc', undefined);
    expect(secrets.redact('abc s3cr3t-embedded')).toBe('abc s3cr3t-embedded');
    secrets.add('s3cr3t-embedded');
    expect(secrets.redact('abc s3cr3t-embedded')).toBe('abc [REDACTED]');
  });
});
