import { describe, expect, it } from '@jest/globals';
import { errors } from 'jose';
describe('smoke', () => { it('runs', () => { expect(typeof errors.JOSEError).toBe('function'); }); });
