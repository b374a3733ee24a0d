import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { LIST_PAGE, pageLimit } from '../../lambdas/core/validation.ts';

describe("pageLimit (core/validation.ts): the one rule for a listing's page size", () => {
  it('takes the default when absent, and decimal integers within the bounds', () => {
    expect(pageLimit(undefined, LIST_PAGE)).toBe(100);
    expect(pageLimit('1', LIST_PAGE)).toBe(1);
    expect(pageLimit('1000', LIST_PAGE)).toBe(1000);
    expect(pageLimit(7, { default: 50, max: 200 })).toBe(7);
  });

  it.each([['0'], ['1001'], [''], ['-1'], ['2.5'], ['1e2'], [' 5'], ['0x10'], ['9999999']])('refuses %p with a ValidationError naming the bounds', (limit) => {
    expect(() => pageLimit(limit, LIST_PAGE)).toThrow(new ValidationError('limit must be an integer from 1 to 1000'));
  });

  it('refuses a number that is not an integer within the bounds', () => {
    expect(() => pageLimit(0, LIST_PAGE)).toThrow(ValidationError);
    expect(() => pageLimit(1.5, LIST_PAGE)).toThrow(ValidationError);
  });
});
