import { ConflictError, ValidationError } from '../errors.ts';
import { parseInput } from '../validation.ts';
import { userAddSchema, type Users } from './user.ts';

/** The columns a users CSV may have (header row, any order); username is required. Passwords are never taken from a file. */
export const USER_CSV_COLUMNS = ['username', 'email', 'displayName'] as const;
/** Enough for a bulk import in one call (API Gateway's 29 s and 10 MB), small enough to validate whole first. */
export const MAX_IMPORT_ROWS = 5_000;

export interface RowError {
  /** The line in the file (the header is line 1). */
  readonly line: number;
  readonly message: string;
}

export interface ImportResult {
  readonly created: number;
  /** Rows refused when written (the user exists): each row is one write, so nothing of it was written. */
  readonly errors: readonly RowError[];
}

/** One CSV record per line (RFC 4180 quoting: "a ""b"""), with its line number; blank lines skipped. */
export function parseCsv(text: string): { line: number; cells: string[] }[] {
  const records: { line: number; cells: string[] }[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    if (!raw.trim()) return;
    const cells: string[] = [];
    let cell = '';
    let quoted = false;
    for (let i = 0; i < raw.length; i++) {
      const char = raw[i]!;
      if (quoted) {
        if (char === '"' && raw[i + 1] === '"') {
          cell += '"';
          i++;
        } else if (char === '"') quoted = false;
        else cell += char;
      } else if (char === '"' && cell === '') quoted = true;
      else if (char === ',') {
        cells.push(cell);
        cell = '';
      } else cell += char;
    }
    if (quoted) throw new ValidationError('invalid CSV', [`line ${index + 1}: unterminated quoted field (a field cannot span lines)`]);
    cells.push(cell);
    records.push({ line: index + 1, cells });
  });
  return records;
}

/**
 * Bulk user creation from CSV. Every row is validated first (the same rules as one `user add`, and no
 * username twice in the file): any invalid row refuses the whole file with every error and its line,
 * nothing written. Then each row is one write of one item (user and e-mail index together), so a row is
 * never half-written; a user that already exists is reported with its line and the other rows go on.
 */
export class UserImport {
  readonly #users: Users;

  constructor(users: Users) {
    this.#users = users;
  }

  async run(tenantId: string, csv: string): Promise<ImportResult> {
    const rows = this.validate(csv);
    let created = 0;
    const errors: RowError[] = [];
    for (const { line, user } of rows) {
      try {
        await this.#users.add(tenantId, user);
        created += 1;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        errors.push({ line, message: error.message });
      }
    }
    return { created, errors };
  }

  /** The rows as `user add` inputs, or a ValidationError whose issues name each bad line. */
  validate(csv: string): { line: number; user: Record<string, string> }[] {
    const [header, ...records] = parseCsv(csv);
    if (!header) throw new ValidationError('the CSV is empty: it needs a header row (username,email,displayName)');
    const columns = header.cells.map((name) => name.trim());
    const unknown = columns.filter((name) => !(USER_CSV_COLUMNS as readonly string[]).includes(name));
    if (unknown.length)
      throw new ValidationError('invalid CSV header', [`line 1: unknown column(s) ${unknown.join(', ')}; the columns are ${USER_CSV_COLUMNS.join(', ')}`]);
    if (!columns.includes('username')) throw new ValidationError('invalid CSV header', ['line 1: the username column is required']);
    if (new Set(columns).size !== columns.length) throw new ValidationError('invalid CSV header', ['line 1: a column is named twice']);
    if (records.length > MAX_IMPORT_ROWS) throw new ValidationError(`too many rows: at most ${MAX_IMPORT_ROWS} per import`);
    const issues: string[] = [];
    const seen = new Map<string, number>();
    const rows: { line: number; user: Record<string, string> }[] = [];
    for (const { line, cells } of records) {
      if (cells.length !== columns.length) {
        issues.push(`line ${line}: ${cells.length} field(s), the header has ${columns.length}`);
        continue;
      }
      const user = Object.fromEntries(columns.map((name, i) => [name, cells[i]!.trim()]).filter(([, value]) => value !== ''));
      try {
        parseInput(userAddSchema, user, 'user');
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        issues.push(...(error.issues.length ? error.issues : [error.message]).map((issue) => `line ${line}: ${issue}`));
        continue;
      }
      const earlier = seen.get(user['username']!);
      if (earlier !== undefined) issues.push(`line ${line}: username ${user['username']} is on line ${earlier} already`);
      else seen.set(user['username']!, line);
      rows.push({ line, user });
    }
    if (issues.length) throw new ValidationError(`${issues.length} invalid row(s): nothing was imported`, issues);
    return rows;
  }
}
