/** Text for people: aligned tables, dollar amounts, durations. Pure; every command prints through these. */
import { formatUsd } from '../rating/money.js';

export const usd = (micros: number) => `${formatUsd(micros)} USD`;

/** A two-column table: names left, values after the longest name. */
export function keyValueTable(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n');
}

export interface Column {
  title: string;
  /** Numbers align right. */
  right?: boolean;
}

/** A table with a header line; columns as wide as their widest cell, two spaces apart, no trailing spaces. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => (c.right ? (cells[i] ?? '').padStart(widths[i]!) : (cells[i] ?? '').padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...rows.map(line)].join('\n');
}

/** 3725 s -> "1h 2m"; under a minute in seconds; days past 48 h. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Estimated depletion as people read it: "in 2h 5m (2026-12-03T15:00:00Z)", or "not spending". */
export function depletionText(d: { secondsToDepletion: number | null; depletesAt: string | null }): string {
  if (d.secondsToDepletion === null || d.depletesAt === null) return 'not spending';
  return `in ${duration(d.secondsToDepletion)} (${d.depletesAt.replace(/\.\d{3}Z$/, 'Z')})`;
}

/** Calls by switch, "sw1: 3, sw2: 1", sorted by switch id. */
export function bySwitchText(bySwitch: Readonly<Record<string, number>>): string {
  return Object.entries(bySwitch)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([sw, n]) => `${sw}: ${n}`)
    .join(', ');
}
