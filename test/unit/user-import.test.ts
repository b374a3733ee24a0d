import { describe, expect, it } from '@jest/globals';
import { parseCsv, UserImport } from '../../lambdas/core/directory/user-import.ts';
import type { Users } from '../../lambdas/core/directory/user.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';

/** The CSV rules where they live: parsing, header, per-line validation (validate() reads no store). */
describe('bulk user import rules', () => {
  const importer = new UserImport(undefined as unknown as Users);
  const issuesOf = (csv: string): string[] => {
    try {
      importer.validate(csv);
    } catch (error) {
      if (error instanceof ValidationError) return error.issues.length ? [...error.issues] : [error.message];
      throw error;
    }
    return [];
  };

  it('parses RFC 4180 quoting, a BOM, CRLF and blank lines, keeping each record’s line number', () => {
    expect(parseCsv('\uFEFFa,b\r\n\r\n"x, y","say ""hi"""\n,\n')).toEqual([
      { line: 1, cells: ['a', 'b'] },
      { line: 3, cells: ['x, y', 'say "hi"'] },
      { line: 4, cells: ['', ''] },
    ]);
    expect(() => parseCsv('a\n"open')).toThrow(ValidationError);
  });

  it('takes the columns in any order, empty cells as absent', () => {
    expect(importer.validate('email,username\n,bob\nCAROL@EXAMPLE.COM,carol\n')).toEqual([
      { line: 2, user: { username: 'bob' } },
      { line: 3, user: { email: 'CAROL@EXAMPLE.COM', username: 'carol' } },
    ]);
  });

  it('names every bad line: field count, the user rules, a username twice; and a bad header', () => {
    expect(issuesOf('username,email\nok\nBAD,\nfine,x\nok2,\nok2,\n')).toEqual([
      'line 2: 1 field(s), the header has 2',
      expect.stringMatching(/^line 3: username: /),
      expect.stringMatching(/^line 4: email: /),
      'line 6: username ok2 is on line 5 already',
    ]);
    expect(issuesOf('email\nx@example.com')).toEqual(['line 1: the username column is required']);
    expect(issuesOf('username,password\nbob,secret')).toEqual([expect.stringMatching(/unknown column\(s\) password/)]);
    expect(issuesOf('')).toEqual([expect.stringMatching(/empty/)]);
  });
});
