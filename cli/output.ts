/** Prints records as JSON (for scripts) or as an aligned table (for people). */
export function print(records: object | readonly object[], columns: readonly string[], asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    return;
  }
  const rows = (Array.isArray(records) ? records : [records]) as Record<string, unknown>[];
  const cell = (value: unknown): string => (value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line([...columns].map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n')}\n`);
}
