import { NO_DRIFT } from '../../src/sync/drift.js';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import type { PageProgress, RunSummary } from '../../src/sync/vocabulary.js';
import type { ScrapeFigures } from '../../src/db/read/source-health.js';
import type { RecentModelSpend } from '../../src/db/read/spend.js';

/** `name{labels} value` lines of the exposition text, without comments. */
async function samples(metrics: ReturnType<typeof createMetrics>): Promise<Map<string, number>> {
  const text = await metrics.registry.metrics();
  return new Map(
    text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const space = line.lastIndexOf(' ');
        const value = line.slice(space + 1);
        return [line.slice(0, space), value === '+Inf' ? Infinity : Number(value)] as const;
      }),
  );
}

/** The samples of the sutro_spend_* gauges alone. */
async function spendSamples(metrics: ReturnType<typeof createMetrics>): Promise<Map<string, number>> {
  return new Map([...(await samples(metrics))].filter(([series]) => series.startsWith('sutro_spend_')));
}

const spend = (model: string | null, figures: Partial<RecentModelSpend> = {}): RecentModelSpend => ({
  model,
  todayUsd: 0,
  last24HoursUsd: 0,
  todayUnpricedEstimateUsd: 0,
  ...figures,
});

const figures = (spendByModel: RecentModelSpend[]): ReadonlyMap<string, ScrapeFigures> =>
  new Map([['s', { lastSuccessAt: null, secondsSinceLastSuccess: null, rejectedRows: 0, spendByModel }]]);

const page = (runId: number, counts: Partial<PageProgress> = {}): PageProgress => ({
  runId,
  page: 0,
  listed: 100,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  rejected: 0,
  totals: { pages: 1, seen: 100 },
  ...counts,
});

const summary = (fields: Partial<RunSummary>): RunSummary => ({
  runId: 1,
  source: 's',
  status: 'succeeded',
  mode: 'full',
  requestedMode: 'incremental',
  stopReason: 'end_of_list',
  pages: 0,
  seen: 0,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  rejected: 0,
  historyRows: 0,
  markedMissing: 0,
  refreshedById: 0,
  resumedFromRunId: null,
  floor: null,
  durationMs: 2_000,
  error: null,
  outcome: {
    status: 'succeeded',
    mode: 'full',
    stopReason: 'end_of_list',
    error: null,
    fullPassCompleted: true,
    drift: NO_DRIFT,
  },
  drift: NO_DRIFT,
  unrecorded: null,
  ...fields,
});

describe('createMetrics', () => {
  it('counts request attempts by outcome, and retries by the outcome that was retried', async () => {
    const metrics = createMetrics({ sources: ['s'] });
    const attempt = { endpoint: 'list-jobs', attempt: 1, attempts: 6, durationMs: 120 } as const;
    const retry = { inMs: 700, reason: 'GET …: answered 503' };
    metrics.observeRequest('s', { ...attempt, outcome: '503', retry });
    metrics.observeRequest('s', { ...attempt, outcome: 'timeout', retry });
    metrics.observeRequest('s', { ...attempt, outcome: '200', retry: null });
    metrics.observeRequest('s', { ...attempt, endpoint: 'jobs', outcome: '401', retry: null });
    const s = await samples(metrics);
    expect(s.get('sutro_api_requests_total{source="s",endpoint="list-jobs",outcome="503"}')).toBe(1);
    expect(s.get('sutro_api_requests_total{source="s",endpoint="list-jobs",outcome="timeout"}')).toBe(1);
    expect(s.get('sutro_api_requests_total{source="s",endpoint="list-jobs",outcome="200"}')).toBe(1);
    expect(s.get('sutro_api_requests_total{source="s",endpoint="jobs",outcome="401"}')).toBe(1);
    expect(s.get('sutro_api_retries_total{source="s",endpoint="list-jobs",outcome="503"}')).toBe(1);
    expect(s.get('sutro_api_retries_total{source="s",endpoint="list-jobs",outcome="timeout"}')).toBe(1);
    expect(s.has('sutro_api_retries_total{source="s",endpoint="list-jobs",outcome="200"}')).toBe(false);
    expect(s.get('sutro_api_request_duration_seconds_count{source="s",endpoint="list-jobs"}')).toBe(3);
  });

  it('counts jobs as pages commit, and what the pages did not report (stragglers by id) at the end', async () => {
    const metrics = createMetrics({ sources: ['s'] });
    metrics.observePage('s', page(7, { inserted: 60, updated: 30, unchanged: 9, rejected: 1 }));
    metrics.observePage('s', page(7, { inserted: 0, updated: 0, unchanged: 100 }));
    let s = await samples(metrics);
    expect(s.get('sutro_sync_pages_total{source="s"}')).toBe(2);
    expect(s.get('sutro_sync_jobs_total{source="s",outcome="inserted"}')).toBe(60);
    expect(s.get('sutro_sync_jobs_total{source="s",outcome="unchanged"}')).toBe(109);

    metrics.observeRun(
      summary({ runId: 7, mode: 'incremental', inserted: 60, updated: 33, unchanged: 109, rejected: 1 }),
    );
    s = await samples(metrics);
    expect(s.get('sutro_sync_jobs_total{source="s",outcome="inserted"}')).toBe(60);
    expect(s.get('sutro_sync_jobs_total{source="s",outcome="updated"}')).toBe(33);
    expect(s.get('sutro_sync_jobs_total{source="s",outcome="unchanged"}')).toBe(109);
    expect(s.get('sutro_sync_jobs_total{source="s",outcome="rejected"}')).toBe(1);
    expect(s.get('sutro_sync_runs_total{source="s",status="succeeded",mode="incremental"}')).toBe(1);
    expect(
      s.get('sutro_sync_run_duration_seconds_sum{source="s",status="succeeded",mode="incremental"}'),
    ).toBe(2);
  });

  it('counts failed runs, including those that threw before they were recorded', async () => {
    const metrics = createMetrics({ sources: ['s'] });
    metrics.observeRun(summary({ status: 'failed', mode: 'full' }));
    metrics.observeRunFailure('s', 'incremental', 500);
    metrics.observeRun(summary({ status: 'interrupted', mode: 'full' }));
    const s = await samples(metrics);
    expect(s.get('sutro_sync_runs_total{source="s",status="failed",mode="full"}')).toBe(1);
    expect(s.get('sutro_sync_runs_total{source="s",status="failed",mode="incremental"}')).toBe(1);
    expect(s.get('sutro_sync_runs_total{source="s",status="interrupted",mode="full"}')).toBe(1);
    expect(s.get('sutro_sync_seconds_since_last_success{source="s"}')).toBe(Infinity);
  });

  it('measures the time since the last success from this process when the database cannot say', async () => {
    const metrics = createMetrics({ sources: ['s'] });
    let s = await samples(metrics);
    expect(s.get('sutro_sync_seconds_since_last_success{source="s"}')).toBe(Infinity);
    expect(s.has('sutro_sync_last_success_timestamp_seconds{source="s"}')).toBe(false);
    expect(s.has('sutro_sync_rejected_rows{source="s"}')).toBe(false);

    metrics.observeRun(summary({ status: 'succeeded' }));
    metrics.attachDatabase(() => Promise.reject(new Error('database gone')));
    s = await samples(metrics);
    expect(s.get('sutro_sync_seconds_since_last_success{source="s"}')).toBeLessThan(5);
    expect(s.get('sutro_sync_last_success_timestamp_seconds{source="s"}')).toBeCloseTo(Date.now() / 1000, -1);
  });

  it('reads the database once per scrape for all its gauges', async () => {
    const metrics = createMetrics({ sources: ['s'] });
    let reads = 0;
    const lastSuccessAt = new Date(Date.now() - 60_000);
    metrics.attachDatabase(() => {
      reads += 1;
      return Promise.resolve(
        new Map([
          [
            's',
            {
              lastSuccessAt,
              secondsSinceLastSuccess: 60,
              rejectedRows: 4,
              spendByModel: [spend('llama', { todayUsd: 2 })],
            },
          ],
        ]),
      );
    });
    const s = await samples(metrics);
    expect(reads).toBe(1);
    expect(s.get('sutro_sync_rejected_rows{source="s"}')).toBe(4);
    expect(s.get('sutro_sync_last_success_timestamp_seconds{source="s"}')).toBe(
      lastSuccessAt.getTime() / 1000,
    );
    expect(s.get('sutro_sync_seconds_since_last_success{source="s"}')).toBeGreaterThanOrEqual(60);
    expect(s.get('sutro_spend_today_usd{source="s",model="llama"}')).toBe(2);
  });

  it('reports spend by model as read, with "(none)" for jobs without a model', async () => {
    const metrics = createMetrics({ sources: ['s'] });
    expect(await spendSamples(metrics)).toEqual(new Map());

    metrics.attachDatabase(() =>
      Promise.resolve(
        figures([
          spend('llama', { todayUsd: 3.75, last24HoursUsd: 12.5, todayUnpricedEstimateUsd: 7 }),
          spend(null, { todayUsd: 0.3, last24HoursUsd: 0.3 }),
        ]),
      ),
    );
    expect(await spendSamples(metrics)).toEqual(
      new Map([
        ['sutro_spend_today_usd{source="s",model="llama"}', 3.75],
        ['sutro_spend_today_usd{source="s",model="(none)"}', 0.3],
        ['sutro_spend_last_24h_usd{source="s",model="llama"}', 12.5],
        ['sutro_spend_last_24h_usd{source="s",model="(none)"}', 0.3],
        ['sutro_spend_today_unpriced_estimate_usd{source="s",model="llama"}', 7],
        ['sutro_spend_today_unpriced_estimate_usd{source="s",model="(none)"}', 0],
      ]),
    );
  });

  it('rebuilds the spend series from each reading, and keeps the last reading while the database is gone', async () => {
    const metrics = createMetrics({ sources: ['s'] });
    let read = () =>
      Promise.resolve(
        figures([spend('llama', { todayUsd: 40, last24HoursUsd: 55 }), spend('qwen', { todayUsd: 5 })]),
      );
    metrics.attachDatabase(() => read());
    expect((await spendSamples(metrics)).get('sutro_spend_today_usd{source="s",model="qwen"}')).toBe(5);

    // The UTC day has changed: llama's jobs are all from yesterday, qwen's more than 24 hours old.
    read = () => Promise.resolve(figures([spend('llama', { todayUsd: 0, last24HoursUsd: 55 })]));
    const afterMidnight = new Map([
      ['sutro_spend_today_usd{source="s",model="llama"}', 0],
      ['sutro_spend_last_24h_usd{source="s",model="llama"}', 55],
      ['sutro_spend_today_unpriced_estimate_usd{source="s",model="llama"}', 0],
    ]);
    expect(await spendSamples(metrics)).toEqual(afterMidnight);

    read = () => Promise.reject(new Error('database gone'));
    expect(await spendSamples(metrics)).toEqual(afterMidnight);
  });

  it('labels every series of a source, and drops those of a source a reload removes', async () => {
    const metrics = createMetrics({ sources: ['a', 'b'] });
    const attempt = { endpoint: 'list-jobs', attempt: 1, attempts: 6, durationMs: 120, retry: null } as const;
    metrics.observeRequest('a', { ...attempt, outcome: '200' });
    metrics.observeRequest('b', { ...attempt, outcome: '401' });
    metrics.observePage('b', page(9, { inserted: 5 }));
    metrics.observeRun(
      summary({ source: 'b', runId: 9, status: 'failed', mode: 'incremental', inserted: 5 }),
    );
    metrics.observeClaim('a', 1.5);
    metrics.observeSlots(1, 4);
    let s = await samples(metrics);
    expect(s.get('sutro_api_requests_total{source="a",endpoint="list-jobs",outcome="200"}')).toBe(1);
    expect(s.get('sutro_api_requests_total{source="b",endpoint="list-jobs",outcome="401"}')).toBe(1);
    expect(s.get('sutro_sync_runs_total{source="b",status="failed",mode="incremental"}')).toBe(1);
    expect(s.get('sutro_sync_schedule_lag_seconds_sum{source="a"}')).toBe(1.5);
    expect(s.get('sutro_sync_slots{state="busy"}')).toBe(1);
    expect(s.get('sutro_sync_slots{state="total"}')).toBe(4);
    expect(s.get('sutro_sync_sources')).toBe(2);
    expect(s.get('sutro_sync_seconds_since_last_success{source="b"}')).toBe(Infinity);

    metrics.setSources(['a']);
    s = await samples(metrics);
    expect([...s.keys()].filter((series) => series.includes('source="b"'))).toEqual([]);
    expect(s.get('sutro_api_requests_total{source="a",endpoint="list-jobs",outcome="200"}')).toBe(1);
    expect(s.get('sutro_sync_sources')).toBe(1);
  });
});
