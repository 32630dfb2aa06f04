import { describe, expect, it } from 'vitest';
import {
  expandGrafanaSql,
  expandMacros,
  interpolateVariables,
  resolveTimeRange,
  type VariableValue,
} from '../helpers/grafana-macros.js';

/**
 * The expander test/integration/grafana.test.ts runs the dashboards' queries through, against Grafana's
 * own statements of what each macro becomes: the examples of its PostgreSQL data source docs, and
 * where those are loose (they show `dateColumn as time`), the cases of
 * pkg/tsdb/grafana-postgresql-datasource/macros_test.go.
 */

const docsRange = { from: new Date('2017-04-21T05:01:17Z'), to: new Date('2017-04-21T05:06:17Z') };
const testsRange = { from: new Date('2018-04-12T18:00:00Z'), to: new Date('2018-04-12T18:05:00Z') };

describe('the PostgreSQL macros, as the docs show them', () => {
  it.each([
    ['$__timeFilter(dateColumn)', "dateColumn BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z'"],
    ['$__timeFrom()', "'2017-04-21T05:01:17Z'"],
    ['$__timeTo()', "'2017-04-21T05:06:17Z'"],
    ['$__unixEpochFilter(dateColumn)', 'dateColumn >= 1492750877 AND dateColumn <= 1492751177'],
    ['$__unixEpochFrom()', '1492750877'],
    ['$__unixEpochTo()', '1492751177'],
    ['$__timeEpoch(dateColumn)', 'extract(epoch from dateColumn) as "time"'],
    ["$__timeGroup(dateColumn,'5m')", 'floor(extract(epoch from dateColumn)/300)*300'],
    ["$__timeGroup(dateColumn,'5m', 0)", 'floor(extract(epoch from dateColumn)/300)*300'],
    ["$__timeGroup(dateColumn,'5m', NULL)", 'floor(extract(epoch from dateColumn)/300)*300'],
    ["$__timeGroup(dateColumn,'5m', previous)", 'floor(extract(epoch from dateColumn)/300)*300'],
    ["$__timeGroupAlias(dateColumn,'5m')", 'floor(extract(epoch from dateColumn)/300)*300 AS "time"'],
  ])('%s', (macro, expansion) => {
    expect(expandMacros(`SELECT ${macro}`, docsRange)).toBe(`SELECT ${expansion}`);
  });
});

describe("the PostgreSQL macros, as Grafana's own tests expand them", () => {
  it.each([
    ['select $__time(time_column)', 'select time_column AS "time"'],
    ['select min($__time(time_column))', 'select min(time_column AS "time")'],
    [
      'WHERE $__timeFilter(time_column)',
      "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
    ],
    // Before Grafana 5.3 $__timeGroup named its column itself: a comma right after it still does.
    [
      "SELECT $__timeGroup(time_column,'5m'), value",
      'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value',
    ],
    [
      "SELECT $__timeGroup(time_column,'5m') as time, value",
      'SELECT floor(extract(epoch from time_column)/300)*300 as time, value',
    ],
    ["$__timeGroup(time_column , '5m')", 'floor(extract(epoch from time_column)/300)*300'],
    ["$__timeGroupAlias(time_column , '5m')", 'floor(extract(epoch from time_column)/300)*300 AS "time"'],
    [
      'select $__unixEpochNanoFilter(time)',
      'select time >= 1523556000000000000 AND time <= 1523556300000000000',
    ],
    ['select $__unixEpochNanoFrom()', 'select 1523556000000000000'],
    ['select $__unixEpochNanoTo()', 'select 1523556300000000000'],
    [
      "SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')",
      'SELECT floor((time_column+time_adjustment)/300)*300',
    ],
    [
      "SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
      'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"',
    ],
  ])('%s', (sql, expansion) => {
    expect(expandMacros(sql, testsRange)).toBe(expansion);
  });

  it('writes times before 1970 and fractions of a second as Go does', () => {
    const range = { from: new Date('1960-02-01T07:00:00Z'), to: new Date('1965-02-03T08:00:00Z') };
    expect(expandMacros('WHERE $__timeFilter(t) OR $__unixEpochFilter(u)', range)).toBe(
      "WHERE t BETWEEN '1960-02-01T07:00:00Z' AND '1965-02-03T08:00:00Z' OR u >= -312915600 AND u <= -154886400",
    );
    const halves = { from: new Date('1960-02-01T07:00:00.500Z'), to: new Date('1980-02-03T08:00:00.500Z') };
    expect(expandMacros('$__timeFilter(t)', halves)).toBe(
      "t BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'",
    );
  });
});

describe('intervals', () => {
  it.each([
    ["'1d'", '86400'],
    ["'1w'", '604800'],
    ["'1h30m'", '5400'],
    ["'20ms'", '0.02'],
    // Go prints a float64 of a million or more with an exponent; PostgreSQL reads it all the same.
    ["'12d'", '1.0368e+06'],
  ])('$__timeGroup(t, %s) groups by %s seconds', (interval, seconds) => {
    expect(expandMacros(`$__timeGroup(t, ${interval})`, testsRange)).toBe(
      `floor(extract(epoch from t)/${seconds})*${seconds}`,
    );
  });

  it('gives $__interval and $__interval_ms the panel interval, before the macros read it', () => {
    expect(
      expandMacros('SELECT $__timeGroupAlias(t, $__interval), $__interval_ms', testsRange, 3_600_000),
    ).toBe('SELECT floor(extract(epoch from t)/3600)*3600 AS "time", 3600000');
    expect(() => expandMacros('SELECT $__timeGroup(t, $__interval)', testsRange)).toThrow(/interval/);
  });

  it.each([
    ["$__timeGroup(t, '1M')", /interval/],
    ["$__timeGroup(t, 'soon')", /interval/],
    ['$__timeGroup(t)', /needs time column and interval/],
    ["$__timeGroup(t, '5m', zero)", /fill value/],
    ['$__timeFilter()', /missing time column/],
    ['$__timeFilterr(t)', /unknown macro "__timeFilterr"/],
  ])('refuses %s', (sql, error) => {
    expect(() => expandMacros(sql, testsRange)).toThrow(error);
  });
});

describe('template variables', () => {
  const one: VariableValue = { name: 'source', values: ["O'Brien"], multi: false };
  const many: VariableValue = { name: 'source', values: ['main', "O'Brien"], multi: true };

  it('replaces $name, ${name} and [[name]] alike, escaping a single value for use inside quotes', () => {
    expect(
      interpolateVariables("WHERE source = '$source' OR source = '${source}' OR '[[source]]'", [one]),
    ).toBe("WHERE source = 'O''Brien' OR source = 'O''Brien' OR 'O''Brien'");
  });

  it('quotes each value of a multi-value variable, and follows the format a query names', () => {
    expect(interpolateVariables('source IN ($source)', [many])).toBe("source IN ('main','O''Brien')");
    expect(interpolateVariables('${source:sqlstring} [[source:sqlstring]]', [many])).toBe(
      "'main','O''Brien' 'main','O''Brien'",
    );
    expect(interpolateVariables("'${source:csv}'", [many])).toBe("'main,O'Brien'");
    expect(() => interpolateVariables('${source:json}', [many])).toThrow(/format "json"/);
  });

  it('leaves the macros and longer names alone, and refuses what is left undefined', () => {
    const sql = "WHERE $__timeFilter(t) AND s IN ($source) AND '$sources' = ''";
    expect(interpolateVariables(sql, [many])).toBe(
      "WHERE $__timeFilter(t) AND s IN ('main','O''Brien') AND '$sources' = ''",
    );
    expect(() => expandGrafanaSql(sql, { range: testsRange, variables: [many] })).toThrow(
      /nothing replaced \$sources/,
    );
    expect(
      expandGrafanaSql('SELECT ${source:csv} WHERE $__timeFilter(t)', {
        range: testsRange,
        variables: [many],
      }),
    ).toBe("SELECT main,O'Brien WHERE t BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'");
  });
});

describe('resolveTimeRange', () => {
  it('puts a relative range before the given moment and takes absolute ones as they are', () => {
    const now = new Date('2024-03-31T12:00:00Z');
    expect(resolveTimeRange({ from: 'now-30d', to: 'now' }, now)).toEqual({
      from: new Date('2024-03-01T12:00:00Z'),
      to: now,
    });
    expect(resolveTimeRange({ from: '2024-01-01T00:00:00.000Z', to: 'now-2h' }, now)).toEqual({
      from: new Date('2024-01-01T00:00:00Z'),
      to: new Date('2024-03-31T10:00:00Z'),
    });
    expect(() => resolveTimeRange({ from: 'now/d', to: 'now' }, now)).toThrow(/now\/d/);
  });
});
