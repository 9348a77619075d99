/** A cell as the reader sees it: absent values as '-', lists joined, objects as compact JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(cell).join(',');
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value) ?? '-';
}

export interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
}

/** Rows under upper-case headers, each column as wide as its widest cell; no rows prints "(none)". */
export function table<Row>(columns: Array<Column<Row>>, rows: readonly Row[]): string {
  if (rows.length === 0) return '(none)';
  const cells = [columns.map((c) => c.header.toUpperCase()), ...rows.map((row) => columns.map((c) => cell(c.value(row))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((text, i) => (i === line.length - 1 ? text : text.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** One record as `name: value` lines, names aligned. */
export function fields(record: ReadonlyArray<readonly [string, unknown]>): string {
  const width = Math.max(...record.map(([name]) => name.length)) + 1;
  return record.map(([name, value]) => `${`${name}:`.padEnd(width)} ${cell(value)}`).join('\n');
}
