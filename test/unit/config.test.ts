import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { ConfigError, loadConfig } from '../../lambdas/config.ts';
import { awsRuntime } from '../../lambdas/handlers/aws-runtime.ts';

const valid = {
  STAGE: 'prod',
  DIRECTORY_TABLE: 'dir-table',
  STATE_TABLE: 'state-table',
  KEY_PROVIDER: 'kms',
  CARD_KEK_KEY_ID: 'arn:kek',
  SIGNING_KEY_ID: 'arn:sig',
  CARD_SESSION_KEY_ID: 'arn:session',
  CARD_PIN_KEY_ID: 'arn:pin',
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('accepts a valid environment and applies defaults', () => {
    expect(loadConfig(valid)).toEqual({
      stage: 'prod',
      directoryTable: 'dir-table',
      stateTable: 'state-table',
      keyProvider: 'kms',
      cardKekKeyId: 'arn:kek',
      signingKeyId: 'arn:sig',
      cardSessionKeyId: 'arn:session',
      cardPinKeyId: 'arn:pin',
      defaultCustody: 'wrapped',
      publicBaseUrl: undefined,
      maxBodyBytes: 262_144,
      trustedLocationHeaders: false,
      directoryCacheSeconds: 30,
    });
    expect(loadConfig({ ...valid, TRUSTED_LOCATION_HEADERS: 'true' }).trustedLocationHeaders).toBe(true);
  });

  it("bounds the oidc function's tenant/client cache: 0 to 300 seconds, 30 by default", () => {
    expect(loadConfig({ ...valid, DIRECTORY_CACHE_SECONDS: '0' }).directoryCacheSeconds).toBe(0);
    expect(configError(() => loadConfig({ ...valid, DIRECTORY_CACHE_SECONDS: '301' })).variables).toEqual(['DIRECTORY_CACHE_SECONDS']);
  });

  it('names every missing variable', () => {
    const error = configError(() => loadConfig({}));
    expect(error.variables).toEqual(expect.arrayContaining(['STAGE', 'DIRECTORY_TABLE', 'STATE_TABLE', 'KEY_PROVIDER']));
    expect(error.message).toMatch(/DIRECTORY_TABLE: is required/);
  });

  it.each([
    ['KEY_PROVIDER', 'vault'],
    ['MAX_BODY_BYTES', 'lots'],
    ['MAX_BODY_BYTES', '10'],
    ['PUBLIC_BASE_URL', 'ftp://x'],
    ['PUBLIC_BASE_URL', 'https://id.example.com/'],
    ['DEFAULT_CUSTODY', 'hsm'],
    ['DIRECTORY_TABLE', 'no spaces allowed'],
    ['STAGE', 'Prod!'],
    ['TRUSTED_LOCATION_HEADERS', 'yes'],
  ])('names %s when it is invalid (%s)', (variable, value) => {
    const error = configError(() => loadConfig({ ...valid, [variable]: value }));
    expect(error.variables).toEqual([variable]);
  });

  it('requires the key ids a KMS-backed function needs, and only those', () => {
    const { CARD_KEK_KEY_ID: _kek, SIGNING_KEY_ID: _sig, ...withoutKeys } = valid;
    expect(configError(() => loadConfig(withoutKeys, { cardKek: true, signingKey: true })).variables).toEqual(['CARD_KEK_KEY_ID', 'SIGNING_KEY_ID']);
    expect(loadConfig(withoutKeys, {}).keyProvider).toBe('kms');
  });

  it('reads the truststore location as all three variables or none, and wires the writer only with it', () => {
    const location = { TRUSTSTORE_BUCKET: 'cloudcard-truststore-abc', TRUSTSTORE_KEY: 'truststore.pem', CERT_DOMAIN_NAME: 'cert.id.example.com' };
    expect(loadConfig({ ...valid, ...location }).truststore).toEqual({
      bucket: 'cloudcard-truststore-abc',
      key: 'truststore.pem',
      domainName: 'cert.id.example.com',
    });
    expect(loadConfig(valid).truststore).toBeUndefined();
    expect(configError(() => loadConfig({ ...valid, TRUSTSTORE_BUCKET: 'cloudcard-truststore-abc' })).variables).toEqual([
      'TRUSTSTORE_KEY',
      'CERT_DOMAIN_NAME',
    ]);
    expect(configError(() => loadConfig({ ...valid, ...location, TRUSTSTORE_BUCKET: 'Not_A_Bucket' })).variables).toEqual(['TRUSTSTORE_BUCKET']);
    expect('truststore' in awsRuntime('admin', { ...valid, ...location })).toBe(true);
    expect('truststore' in awsRuntime('admin', valid)).toBe(false);
  });

  it('refuses local keys inside AWS', () => {
    expect(configError(() => awsRuntime('portal', { ...valid, KEY_PROVIDER: 'local' })).variables).toEqual(['KEY_PROVIDER']);
  });

  it('wires only the key services a context is granted', () => {
    const wired = (context: Parameters<typeof awsRuntime>[0]) => {
      const runtime = awsRuntime(context, valid);
      return { custody: 'custody' in runtime, signer: 'signer' in runtime, sessionKey: 'cardSessionKey' in runtime, pinKey: 'cardPinKey' in runtime };
    };
    const none = { sessionKey: false, pinKey: false };
    expect(wired('portal')).toEqual({ custody: true, signer: false, ...none }); // TOTP secrets are wrapped
    expect(wired('oidc')).toEqual({ custody: true, signer: true, ...none }); // wrapped tenant keys, or the KMS key
    expect(wired('saml')).toEqual({ custody: true, signer: true, ...none }); // the tenant's wrapped keys sign assertions
    // Only the card function seals session state; card and admin hash PINs.
    expect(wired('card')).toEqual({ custody: true, signer: false, sessionKey: true, pinKey: true });
    expect(wired('admin')).toEqual({ custody: true, signer: true, sessionKey: false, pinKey: true });
  });

  it('fails a Lambda init naming the variable when the environment is wrong', () => {
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('./lambdas/handlers/card.ts')"], {
      env: { PATH: process.env['PATH'], STAGE: 'prod', STATE_TABLE: 'state-table', KEY_PROVIDER: 'kms', SIGNING_KEY_ID: 'x' },
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/ConfigError/);
    expect(result.stderr).toMatch(/DIRECTORY_TABLE: is required/);
    expect(result.stderr).toMatch(/CARD_KEK_KEY_ID: is required/);
    expect(result.stderr).toMatch(/CARD_SESSION_KEY_ID: is required/);
    expect(result.stderr).toMatch(/CARD_PIN_KEY_ID: is required/);
  });
});
