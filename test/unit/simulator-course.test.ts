import { describe, expect, it } from 'vitest';
import {
  LONGEST_COURSE,
  finishedBy,
  isSettledAt,
  planJob,
  shifted,
  stateAt,
  type JobPlan,
} from '../../src/simulator/account/course.js';

const CREATED = Date.parse('2026-10-01T00:00:00Z');
const CLEAN = { quirks: false, unbilledDryRuns: false };
const QUIRKY = { quirks: true, unbilledDryRuns: false };
const ORDER = ['UNKNOWN', 'PENDING', 'SUBMITTED', 'QUEUED', 'STARTING', 'RUNNING', 'CANCELLING'];

function plans(count: number): JobPlan[] {
  return Array.from({ length: count }, (_, index) => planJob(5, index, CREATED, `job_${index}`, CLEAN));
}

/** The moments at which something about a job can change, and one moment between each two. */
function moments(plan: JobPlan): number[] {
  const { stages, startedAt, cancellingAt, endAt, costAt } = plan.timing;
  const events = [...stages.map(([, from]) => from), startedAt, cancellingAt, endAt, costAt]
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
  return events.flatMap((t) => [t - 1, t, t + 1]);
}

describe('the course of a job', () => {
  it('is a pure function of the plan and the moment', () => {
    const a = planJob(9, 123, CREATED, 'job_a', QUIRKY);
    expect(planJob(9, 123, CREATED, 'job_a', QUIRKY)).toEqual(a);
    expect(planJob(9, 124, CREATED, 'job_a', QUIRKY)).not.toEqual(a);
    for (const t of moments(a)) expect(stateAt(a, a.timing, t)).toEqual(stateAt(a, a.timing, t));
  });

  it('moves forward only, and ends in its outcome with figures that never change again', () => {
    for (const plan of plans(300)) {
      let rank = -1;
      for (const t of moments(plan).filter((m) => m >= CREATED)) {
        const state = stateAt(plan, plan.timing, t);
        if (t >= plan.timing.endAt) {
          expect(state.status).toBe(plan.outcome);
          expect(state.completedAt).toBe(plan.timing.endAt);
          continue;
        }
        expect(state.completedAt).toBeNull();
        expect(state.cost).toBeNull();
        const now = Math.max(ORDER.indexOf(state.status), ORDER.indexOf('PENDING'));
        expect(now).toBeGreaterThanOrEqual(rank);
        rank = now;
      }
      const late = plan.timing.costAt + LONGEST_COURSE;
      expect(isSettledAt(plan.timing, late)).toBe(true);
      expect(stateAt(plan, plan.timing, late)).toEqual(stateAt(plan, plan.timing, late + 86_400_000));
    }
  });

  it('knows a succeeded job’s tokens and cost together, at the cost time', () => {
    const late = plans(400).find((p) => p.outcome === 'SUCCEEDED' && p.timing.costAt > p.timing.endAt);
    if (late === undefined) throw new Error('expected a succeeded job with a late cost');
    const before = stateAt(late, late.timing, late.timing.costAt - 1);
    expect(before).toMatchObject({ status: 'SUCCEEDED', inputTokens: null, outputTokens: null, cost: null });
    expect(stateAt(late, late.timing, late.timing.costAt)).toMatchObject({
      inputTokens: late.inputTokens,
      outputTokens: late.outputTokens,
      cost: late.cost,
    });
  });

  it('pauses when shifted, and finishes at once when made to', () => {
    const plan = plans(50).find((p) => p.outcome === 'SUCCEEDED') as JobPlan;
    const pauseAt = plan.timing.startedAt as number;
    const paused = shifted(plan.timing, pauseAt, 3_600_000);
    expect(stateAt(plan, paused, pauseAt + 3_600_000 - 1).status).toBe(
      stateAt(plan, plan.timing, pauseAt).status,
    );
    const at = pauseAt + 1_000;
    const finished = finishedBy(plan.timing, plan.outcome, plan.created, pauseAt, at);
    expect(stateAt(plan, finished, at)).toMatchObject({
      status: 'SUCCEEDED',
      completedAt: at,
      cost: plan.cost,
    });
  });
});
