/**
 * What Grafana does to the SQL of a PostgreSQL panel before the database sees it, so that tests can run
 * a shipped dashboard's queries as Grafana would. Two steps, in Grafana's order: the browser replaces
 * template variables (templateSrv.replace with the SQL data source's interpolateVariable, or the
 * format the query names), then the server expands $__interval, $__unixEpochFrom() and $__unixEpochTo()
 * (sqleng's Interpolate) and the PostgreSQL macros (grafana-postgresql-datasource/macros.go).
 *
 * Written after Grafana 11's sources. What this does not know it refuses, rather than hand PostgreSQL
 * SQL that Grafana would have expanded otherwise.
 */

export interface TimeRange {
  readonly from: Date;
  readonly to: Date;
}

/** What Grafana stores as the value of a variable whose "All" option is chosen. */
export const ALL_VALUE = '$__all';

/** A template variable with the values chosen for a test. */
export interface VariableValue {
  readonly name: string;
  /** The values chosen; [ALL_VALUE] for the "All" option. */
  readonly values: readonly string[];
  /** Multi-value or with an "All" option: Grafana then quotes each value, even a lone one. */
  readonly multi: boolean;
  /** The variable's options, which "All" stands for when it has no custom all value. */
  readonly options?: readonly string[];
  /** The dashboard's custom all value ("allValue"), which "All" becomes as it is. */
  readonly allValue?: string | null;
}

export interface GrafanaQueryContext {
  readonly range: TimeRange;
  /** The panel's interval ($__interval), which Grafana derives from the range and the panel's width. */
  readonly intervalMs?: number;
  readonly variables?: readonly VariableValue[];
}

/** Grafana's variableRegex: $name, [[name]] or [[name:format]], ${name}, ${name.path} or ${name:format}. */
const VARIABLE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;
/** macros.go's sExpr: the arguments end at the first ")", so a macro cannot take a parenthesised one. */
const MACRO = /\$([_a-zA-Z0-9]+)\(([^)]*)\)/g;

const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * "All": templateSrv.replace puts a custom all value in unformatted (but as text or percentencode,
 * which this expander does not know), and otherwise every option but All itself, formatted as the
 * values of a multi-value variable. No option at all formats as nothing: `IN ()`, as in Grafana.
 */
function formatAll(variable: VariableValue, format: string | undefined): string {
  if (variable.allValue !== undefined && variable.allValue !== null && variable.allValue !== '') {
    if (format === 'text' || format === 'percentencode')
      throw new Error(`variable ${variable.name}: format "${format}" is not known to this expander`);
    if (/\$|\[\[/.test(variable.allValue))
      throw new Error(
        `variable ${variable.name}: a custom all value holding variables is not known to this expander`,
      );
    return variable.allValue;
  }
  if (variable.options === undefined)
    throw new Error(`variable ${variable.name}: "All" needs the variable's options`);
  return formatValue({ name: variable.name, values: variable.options, multi: true }, format);
}

function formatValue(variable: VariableValue, format: string | undefined): string {
  const { values } = variable;
  if (values.length === 1 && values[0] === ALL_VALUE) {
    if (!variable.multi) throw new Error(`variable ${variable.name} has no "All" option`);
    return formatAll(variable, format);
  }
  if (!variable.multi && values.length !== 1)
    throw new Error(`variable ${variable.name} takes one value, not ${values.length}`);
  switch (format) {
    case undefined:
      // The SQL data sources' interpolateVariable: a single value is only escaped, for use inside quotes.
      return variable.multi ? values.map(quoteLiteral).join(',') : values.join('').replace(/'/g, "''");
    case 'raw':
    case 'csv':
      return values.join(',');
    case 'sqlstring':
      return values.map((v) => `'${v.replace(/'/g, "''").replace(/"/g, '\\"')}'`).join(',');
    default:
      throw new Error(`variable ${variable.name}: format "${format}" is not known to this expander`);
  }
}

/**
 * Replaces the template variables given; as Grafana does, leaves any other $name alone (the macros
 * are among them).
 */
export function interpolateVariables(sql: string, variables: readonly VariableValue[]): string {
  const byName = new Map(variables.map((v) => [v.name, v]));
  return sql.replace(
    VARIABLE,
    (
      match: string,
      plain?: string,
      bracketed?: string,
      bracketFormat?: string,
      braced?: string,
      path?: string,
      bracedFormat?: string,
    ) => {
      const variable = byName.get(plain ?? bracketed ?? braced ?? '');
      if (variable === undefined) return match;
      if (path !== undefined) throw new Error(`${match}: a field path is not known to this expander`);
      return formatValue(variable, bracketFormat ?? bracedFormat);
    },
  );
}

/** Go's time.RFC3339Nano in UTC: the fraction without trailing zeros, none at all when zero. */
function rfc3339Nano(date: Date): string {
  const [whole, fraction = ''] = date.toISOString().replace('Z', '').split('.');
  const digits = fraction.replace(/0+$/, '');
  return `${whole}${digits === '' ? '' : `.${digits}`}Z`;
}

/** Go's %v of a float64: the shortest digits, in exponent form from 1e+06 on and below 1e-04. */
function goFloat(value: number): string {
  if (value === 0) return '0';
  const [mantissa, exponent] = value.toExponential().split('e');
  const power = Number(exponent);
  if (power >= -4 && power < 6) return String(value);
  return `${mantissa}e${power < 0 ? '-' : '+'}${String(Math.abs(power)).padStart(2, '0')}`;
}

const GO_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * gtime.ParseInterval: Go's durations (300ms, 5m, 1h30m) and whole days or weeks. Months and years
 * are refused: Grafana makes them as long as the ones that end at the moment it expands them.
 */
function parseInterval(text: string, macro: string): number {
  const days = /^(\d+)([dw])$/.exec(text);
  if (days) return Number(days[1]) * (days[2] === 'w' ? 7 : 1) * 86_400_000;
  if (text === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let match = part.exec(text); match !== null; match = part.exec(text)) {
    total += Number(match[1]) * (GO_UNITS_MS[match[2] ?? ''] ?? Number.NaN);
    end = part.lastIndex;
  }
  if (text === '' || end !== text.length) throw new Error(`${macro}: error parsing interval ${text}`);
  return total;
}

/** The interval of a $__timeGroup-like macro in seconds; its fill argument only shapes Grafana's frames. */
function groupSeconds(name: string, args: readonly string[]): number {
  if (args.length < 2)
    throw new Error(`macro ${name} needs time column and interval and optional fill value`);
  const fill = args[2];
  if (fill !== undefined && !/^(NULL|previous|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/.test(fill))
    throw new Error(`macro ${name}: error parsing fill value ${fill}`);
  return parseInterval((args[1] ?? '').replace(/^'+|'+$/g, ''), name) / 1_000;
}

function column(name: string, args: readonly string[]): string {
  const first = args[0] ?? '';
  if (first === '') throw new Error(`missing time column argument for macro ${name}`);
  return first;
}

function evaluateMacro(name: string, args: readonly string[], range: TimeRange): string {
  const from = rfc3339Nano(range.from);
  const to = rfc3339Nano(range.to);
  const epoch = (d: Date) => Math.floor(d.getTime() / 1_000);
  const epochNano = (d: Date) => String(BigInt(d.getTime()) * 1_000_000n);
  switch (name) {
    case '__time':
      return `${column(name, args)} AS "time"`;
    case '__timeEpoch':
      return `extract(epoch from ${column(name, args)}) as "time"`;
    case '__timeFilter':
      return `${column(name, args)} BETWEEN '${from}' AND '${to}'`;
    case '__timeFrom':
      return `'${from}'`;
    case '__timeTo':
      return `'${to}'`;
    case '__timeGroup': {
      const seconds = goFloat(groupSeconds(name, args));
      return `floor(extract(epoch from ${args[0]})/${seconds})*${seconds}`;
    }
    case '__timeGroupAlias':
      return `${evaluateMacro('__timeGroup', args, range)} AS "time"`;
    case '__unixEpochFilter': {
      const col = column(name, args);
      return `${col} >= ${epoch(range.from)} AND ${col} <= ${epoch(range.to)}`;
    }
    case '__unixEpochNanoFilter': {
      const col = column(name, args);
      return `${col} >= ${epochNano(range.from)} AND ${col} <= ${epochNano(range.to)}`;
    }
    case '__unixEpochNanoFrom':
      return epochNano(range.from);
    case '__unixEpochNanoTo':
      return epochNano(range.to);
    case '__unixEpochGroup': {
      const seconds = goFloat(groupSeconds(name, args));
      return `floor((${args[0]})/${seconds})*${seconds}`;
    }
    case '__unixEpochGroupAlias':
      return `${evaluateMacro('__unixEpochGroup', args, range)} AS "time"`;
    default:
      throw new Error(`unknown macro "${name}"`);
  }
}

/** gtime.FormatInterval: the interval in its largest whole unit. */
function formatInterval(ms: number): string {
  const units: [string, number][] = [
    ['y', 365 * 86_400_000],
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ];
  for (const [unit, size] of units) if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  return '1ms';
}

/** The server's step: sqleng's global substitutions, then the PostgreSQL macros. */
export function expandMacros(sql: string, range: TimeRange, intervalMs?: number): string {
  let global = sql;
  if (/\$__interval/.test(global)) {
    if (intervalMs === undefined) throw new Error('the query uses $__interval: give the panel an interval');
    global = global
      .replaceAll('$__interval_ms', String(Math.floor(intervalMs)))
      .replaceAll('$__interval', formatInterval(intervalMs));
  }
  global = global
    .replaceAll('$__unixEpochFrom()', String(Math.floor(range.from.getTime() / 1_000)))
    .replaceAll('$__unixEpochTo()', String(Math.floor(range.to.getTime() / 1_000)));
  return global.replace(MACRO, (match: string, name: string, list: string) => {
    // Grafana before 5.3 aliased $__timeGroup itself; a comma right after it still asks for the alias.
    // Like Grafana, this looks after the first occurrence of the same text.
    const aliased = name === '__timeGroup' && global[global.indexOf(match) + match.length] === ',';
    const args = list.split(',').map((arg) => arg.replace(/^ +| +$/g, ''));
    return evaluateMacro(aliased ? '__timeGroupAlias' : name, args, range);
  });
}

/**
 * Both steps. Anything still looking like a variable afterwards is one the dashboard does not define:
 * Grafana would send it as it is, and PostgreSQL would refuse it less clearly.
 */
export function expandGrafanaSql(sql: string, context: GrafanaQueryContext): string {
  const expanded = expandMacros(
    interpolateVariables(sql, context.variables ?? []),
    context.range,
    context.intervalMs,
  );
  const left = /\$\{?[A-Za-z_]\w*\}?|\[\[\w+/.exec(expanded);
  if (left)
    throw new Error(
      `nothing replaced ${left[0]}: a variable the dashboard does not define, or one of Grafana's own ` +
        `this expander does not know; in: ${expanded}`,
    );
  return expanded;
}

const RELATIVE_UNITS_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * A dashboard's time range ("now-30d" to "now", or absolute times) at a given moment, as Grafana
 * computes it for a dashboard in UTC. Rounding (now/d), months and years are refused: they would
 * need the dashboard's calendar.
 */
export function resolveTimeRange(time: { readonly from: string; readonly to: string }, now: Date): TimeRange {
  const resolve = (text: string): Date => {
    const relative = /^now(?:-(\d+)([smhdw]))?$/.exec(text);
    if (relative) {
      const [, amount = '0', unit = 's'] = relative;
      return new Date(now.getTime() - Number(amount) * (RELATIVE_UNITS_MS[unit] ?? Number.NaN));
    }
    const absolute = new Date(text);
    if (!/^\d{4}-\d\d-\d\dT/.test(text) || Number.isNaN(absolute.getTime()))
      throw new Error(`time "${text}" is not known to this expander`);
    return absolute;
  };
  return { from: resolve(time.from), to: resolve(time.to) };
}
