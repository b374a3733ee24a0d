import { describe, expect, it } from '@jest/globals';
import { chooseSlotAlgorithm, RESIDENT_RSA_LIMITS } from '../../lambdas/core/cards/algorithm-choice.ts';

const ALL = ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384'] as const;

describe('slot algorithm at enrolment (KMS-resident RSA cannot sign RSA-PSS)', () => {
  it('wrapped custody: the request, else the tenant default, when allowed', () => {
    expect(chooseSlotAlgorithm({ custody: 'wrapped', requested: undefined, tenantDefault: 'rsa2048', allowed: ALL, residentRsa: undefined })).toEqual({
      algorithm: 'rsa2048',
    });
    expect(
      chooseSlotAlgorithm({ custody: 'wrapped', requested: 'p384', tenantDefault: 'rsa2048', allowed: ['rsa2048'], residentRsa: undefined }),
    ).toMatchObject({ refused: 'not-allowed', algorithm: 'p384' });
  });

  it('KMS-resident: an RSA default gives way to P-256 (or P-384 when only that is allowed), an RSA-only tenant needs the acknowledgement', () => {
    expect(chooseSlotAlgorithm({ custody: 'kms-resident', requested: undefined, tenantDefault: 'rsa2048', allowed: ALL, residentRsa: undefined })).toEqual({
      algorithm: 'p256',
    });
    expect(
      chooseSlotAlgorithm({ custody: 'kms-resident', requested: undefined, tenantDefault: 'rsa2048', allowed: ['rsa2048', 'p384'], residentRsa: undefined }),
    ).toEqual({ algorithm: 'p384' });
    expect(
      chooseSlotAlgorithm({ custody: 'kms-resident', requested: undefined, tenantDefault: 'rsa3072', allowed: ['rsa3072'], residentRsa: undefined }),
    ).toMatchObject({ refused: 'resident-rsa' });
  });

  it('KMS-resident: an explicit RSA algorithm is refused with the reason unless acknowledged, then allowed with a warning', () => {
    const refused = chooseSlotAlgorithm({ custody: 'kms-resident', requested: 'rsa2048', tenantDefault: 'p256', allowed: ALL, residentRsa: undefined });
    expect(refused).toMatchObject({ refused: 'resident-rsa', algorithm: 'rsa2048', error: expect.stringContaining('residentRsa "pkcs1-only"') });
    expect(chooseSlotAlgorithm({ custody: 'kms-resident', requested: 'rsa2048', tenantDefault: 'p256', allowed: ALL, residentRsa: 'pkcs1-only' })).toEqual({
      algorithm: 'rsa2048',
      warning: RESIDENT_RSA_LIMITS,
    });
    expect(chooseSlotAlgorithm({ custody: 'kms-resident', requested: 'p384', tenantDefault: 'rsa2048', allowed: ALL, residentRsa: undefined })).toEqual({
      algorithm: 'p384',
    });
  });
});
