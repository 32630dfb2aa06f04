import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { Secrets } from '../../src/redact.js';

/** The `terminal` log format: what a person at a terminal reads, one short line per event. */

function terminalLogger(level = 'info') {
  const lines: string[] = [];
  const secrets = new Secrets();
  secrets.add('sk_live_terminal_9f3a');
  const log = createLogger({
    level,
    secrets,
    format: 'terminal',
    terminal: { isTTY: false, write: (text: string) => (lines.push(text), true) },
  });
  return { log, lines };
}

describe('LOG_FORMAT=terminal', () => {
  it('shows warnings, errors and notices, one line each, and hides routine info', () => {
    const { log, lines } = terminalLogger();
    log.info({ page: 3 }, 'page committed');
    log.info({ notice: true }, 'database schema is up to date');
    log.info({ notice: 'sync succeeded: incremental run, 1 page' }, 'sync run succeeded');
    log.warn({ attempt: 1 }, 'Sutro API answered 503; attempt 1 of 6 failed, retrying in 0.7 s');
    expect(lines).toHaveLength(3);
    expect(lines.every((line) => line.endsWith('\n') && line.split('\n').length === 2)).toBe(true);
    expect(lines[0]).toMatch(/^\[\d{2}:\d{2}:\d{2}\] INFO: database schema is up to date\n$/);
    expect(lines[1]).toContain('INFO: sync succeeded: incremental run, 1 page');
    expect(lines[1]).not.toContain('sync run succeeded');
    expect(lines[2]).toContain('WARN: Sutro API answered 503; attempt 1 of 6 failed, retrying in 0.7 s');
    // The fields are for the JSON format: none of them here.
    expect(lines.join('')).not.toMatch(/attempt: 1|"page"/);
  });

  it("adds an error's message to its line, without a stack trace, and scrubs secrets", () => {
    const { log, lines } = terminalLogger();
    const error = new Error('GET /v1/list-jobs answered 401 for Key sk_live_terminal_9f3a', {
      cause: new Error('inner'),
    });
    log.error({ err: error }, 'sync run failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ERROR: sync run failed: GET /v1/list-jobs answered 401 for Key [REDACTED]');
    expect(lines[0]).not.toContain('sk_live_terminal_9f3a');
    expect(lines[0]).not.toMatch(/\n\s+at /);
  });

  it('does not repeat an error message the line already says', () => {
    const { log, lines } = terminalLogger();
    const error = new Error('the database did not answer');
    log.error({ err: error, notice: 'sync failed: the database did not answer' }, 'sync run failed');
    expect(lines[0]).toMatch(/ERROR: sync failed: the database did not answer\n$/);
  });

  it('keeps level filtering: at error, warnings and notices are not written', () => {
    const { log, lines } = terminalLogger('error');
    log.warn('slow');
    log.info({ notice: true }, 'listening');
    log.error('broken');
    expect(lines).toEqual([expect.stringContaining('ERROR: broken')]);
  });
});

describe('LOG_FORMAT=terminal, lines another says already', () => {
  it('keeps an error marked notice: false off the terminal', () => {
    const { log, lines } = terminalLogger();
    log.error({ err: new Error('boom'), notice: false }, 'sync run failed');
    log.error({ notice: 'sync failed (full pass, 0 pages, 0.1 s): boom' }, 'sync run failed');
    expect(lines).toEqual([expect.stringContaining('ERROR: sync failed (full pass, 0 pages, 0.1 s): boom')]);
  });
});
