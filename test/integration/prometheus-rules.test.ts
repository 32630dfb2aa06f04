import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';

/**
 * The shipped alerting rules: promtool finds them valid and passes their unit tests, and every
 * metric they read is one `start` exposes, so that renaming a metric fails here rather than leaving
 * an alert that can never fire. promtool comes with Debian's prometheus package; CI sets
 * TEST_REQUIRE_PROMTOOL=1, so that there these tests cannot be skipped for want of it.
 */

const RULES = fileURLToPath(new URL('../../deploy/prometheus/sutro-sync.rules.yml', import.meta.url));
const RULE_TESTS = fileURLToPath(
  new URL('../../deploy/prometheus/sutro-sync.rules.test.yml', import.meta.url),
);

function findPromtool(): string | null {
  const directories = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  return directories.map((dir) => path.join(dir, 'promtool')).find((file) => existsSync(file)) ?? null;
}

const promtool = findPromtool();

async function runPromtool(...args: string[]): Promise<{ code: number; output: string }> {
  if (promtool === null) {
    throw new Error('TEST_REQUIRE_PROMTOOL=1 but there is no promtool on PATH (apt-get install prometheus)');
  }
  try {
    const { stdout, stderr } = await promisify(execFile)(promtool, args);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** The `expr` of each rule: inline, or a folded block (`>-`) of the lines indented below it. */
function ruleExpressions(yaml: string): string[] {
  const lines = yaml.split('\n');
  const expressions: string[] = [];
  lines.forEach((line, at) => {
    const match = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (match === null) return;
    const [, indent = '', inline = ''] = match;
    if (!/^[>|]-?$/.test(inline)) {
      expressions.push(inline.replace(/^'(.*)'$|^"(.*)"$/, '$1$2'));
      return;
    }
    const block: string[] = [];
    for (const next of lines.slice(at + 1)) {
      if (next.trim() !== '' && next.search(/\S/) <= indent.length) break;
      block.push(next.trim());
    }
    expressions.push(block.join(' '));
  });
  return expressions;
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'inf', 'nan', 'group_left', 'group_right']);

/** Strings, ranges and offsets out of an expression: what is left names metrics, labels and functions. */
function withoutLiterals(expression: string): string {
  return expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ');
}

/**
 * The metric names an expression selects: what is left once strings, label matchers, ranges,
 * grouping clauses, numbers and keywords are gone, and that is not called like a function.
 */
function metricNamesIn(expression: string): string[] {
  const bare = withoutLiterals(expression)
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/(?<![\w:])[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w:])/gi, ' ');
  return [...bare.matchAll(/[a-zA-Z_:][\w:]*(?!\s*\(|[\w:])/g)]
    .map(([name]) => name)
    .filter((name) => !PROMQL_KEYWORDS.has(name.toLowerCase()));
}

/** Each selector with label matchers: the metric and the labels it matches on. */
function matchersIn(expression: string): { metric: string; labels: string[] }[] {
  return [...expression.matchAll(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)].map(
    ([, metric = '', matchers = '']) => ({
      metric,
      labels: [...matchers.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map(([, label = '']) => label),
    }),
  );
}

/** The labels of the grouping and matching clauses: by, without, on, ignoring, group_left/right (…). */
function groupingLabelsIn(expression: string): string[] {
  return [
    ...withoutLiterals(expression).matchAll(
      /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    ),
  ].flatMap(([, list = '']) =>
    list
      .split(',')
      .map((label) => label.trim())
      .filter((label) => label !== ''),
  );
}

/** Labels Prometheus gives every series of a target; a rule may group by them. */
const TARGET_LABELS = new Set(['instance', 'job']);

/**
 * The series of the worker's /metrics, by name (a histogram is its _bucket, _sum and _count), with
 * the labels of each.
 */
async function exposedSeries(): Promise<Map<string, Set<string>>> {
  const metrics = createMetrics({ sources: ['main', 'research'] });
  metrics.attachDatabase((sources) =>
    Promise.resolve(
      new Map(
        sources.map((source) => [
          source,
          {
            lastSuccessAt: new Date(),
            secondsSinceLastSuccess: 0,
            rejectedRows: 0,
            spendByModel: [{ model: 'llama', todayUsd: 1, last24HoursUsd: 1, todayUnpricedEstimateUsd: 0 }],
          },
        ]),
      ),
    ),
  );
  const series = new Map<string, Set<string>>();
  for (const { name, type } of await metrics.registry.getMetricsAsJSON()) {
    // prom-client's types declare a numeric enum here; at run time it is the exposition's word.
    const kind: unknown = type;
    // A metric keeps its label names at run time; prom-client's types do not declare them.
    const metric = metrics.registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] };
    const labels = metric.labelNames ?? [];
    const suffixes =
      kind === 'histogram'
        ? ['_bucket', '_sum', '_count']
        : kind === 'summary'
          ? ['', '_sum', '_count']
          : [''];
    for (const suffix of suffixes)
      series.set(name + suffix, new Set(suffix === '_bucket' ? [...labels, 'le'] : labels));
  }
  return series;
}

describe('the metrics the alerting rules read', () => {
  const rules = readFileSync(RULES, 'utf8');
  const expressions = ruleExpressions(rules);
  /** What recording rules of the file produce, which other rules may read like the worker's own. */
  const recorded = new Set([...rules.matchAll(/^\s*- record:\s*(\S+)/gm)].map(([, name]) => name));

  it('are found in every rule', () => {
    const count = rules.match(/^\s*- (?:alert|record):/gm) ?? [];
    expect(expressions).toHaveLength(count.length);
    for (const expression of expressions) expect(metricNamesIn(expression), expression).not.toEqual([]);
  });

  it('are all exposed by the worker', async () => {
    const exposed = await exposedSeries();
    const unknown = expressions.flatMap((expression) =>
      metricNamesIn(expression)
        .filter((name) => !exposed.has(name) && !recorded.has(name))
        .map((name) => `${name} in: ${expression}`),
    );
    expect(unknown).toEqual([]);
  });

  it('are matched, grouped and joined only by labels they have', async () => {
    const exposed = await exposedSeries();
    const problems = expressions.flatMap((expression) => {
      const names = metricNamesIn(expression);
      const matchers = matchersIn(expression).flatMap(({ metric, labels }) =>
        labels
          .filter((label) => exposed.get(metric)?.has(label) === false)
          .map((label) => `${metric} has no label ${label}, in: ${expression}`),
      );
      // `by (source)` over metrics without it would make one series without the label, and an
      // alert that cannot say which source it is about.
      const groups = groupingLabelsIn(expression)
        .filter((label) => !TARGET_LABELS.has(label))
        .filter((label) => !names.some((name) => recorded.has(name) || exposed.get(name)?.has(label)))
        .map((label) => `no metric it reads has label ${label}, in: ${expression}`);
      return [...matchers, ...groups];
    });
    expect(problems).toEqual([]);
  });

  it('see every label a rule names, including those of its matchers (self-check)', () => {
    const expression =
      'sum by (source) (increase(a_total{status="failed", le=~"60"}[1h] offset 5m)) > on (source) group_left max(b)';
    expect(metricNamesIn(expression)).toEqual(['a_total', 'b']);
    expect(matchersIn(expression)).toEqual([{ metric: 'a_total', labels: ['status', 'le'] }]);
    expect(groupingLabelsIn(expression)).toEqual(['source', 'source']);
  });
});

describe('the alerting rules’ unit tests', () => {
  it('test every alert both firing and not firing', () => {
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert: (\w+)/gm)].map(([, name]) => name);
    const cases = [...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)\n\s*exp_alerts:( \[\])?/g)];
    const tested = (fires: boolean) =>
      new Set(cases.filter(([, , none]) => (none === undefined) === fires).map(([, name]) => name));
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.filter((name) => !tested(true).has(name))).toEqual([]);
    expect(alerts.filter((name) => !tested(false).has(name))).toEqual([]);
  });
});

describe.skipIf(promtool === null && process.env.TEST_REQUIRE_PROMTOOL !== '1')('promtool', () => {
  it('checks the rules file', async () => {
    expect(await runPromtool('check', 'rules', RULES)).toEqual({
      code: 0,
      output: expect.stringContaining('SUCCESS') as unknown,
    });
  });

  it('passes the rules’ unit tests', async () => {
    expect(await runPromtool('test', 'rules', RULE_TESTS)).toEqual({
      code: 0,
      output: expect.stringContaining('SUCCESS') as unknown,
    });
  });
});
