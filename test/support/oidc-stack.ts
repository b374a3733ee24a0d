import { randomBytes } from 'node:crypto';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import type { Clock } from '../../lambdas/ports.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.ts';
import type { LocalOutboundOptions } from '../../local/runtime.ts';
import type { RegistrationMode } from '../../lambdas/core/directory/tenant.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { BackendName } from './backends.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from './emulator.ts';

export const DEMO_PASSWORD = 'correct horse battery staple';

/** Name resolution without DNS: `localhost` names are loopback, no other name resolves. */
export const offlineResolver = async (hostname: string): Promise<string[]> => {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return ['127.0.0.1'];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (tests resolve no names)`), { code: 'ENOTFOUND' });
};

/**
 * The whole local stack on one of the two backends: "embedded" (dynalite + local key file) or
 * "emulator" (DynamoDB tables, KMS key-encryption key and KMS RSA signing key on the AWS emulator, through
 * the same AWS adapters the Lambda functions use). The test SPs and identity providers listen on
 * loopback, so the outbound URL policy's loopback exception is on unless `outbound` says otherwise;
 * names resolve without DNS (offlineResolver) unless `outbound` gives a resolver.
 */
export async function startStackOn(
  backend: BackendName,
  options: {
    clock?: Clock;
    outbound?: LocalOutboundOptions;
    env?: Record<string, string>;
    certListener?: LocalStackOptions['certListener'];
    logLevel?: LocalStackOptions['logLevel'];
    contextRuntime?: LocalStackOptions['contextRuntime'];
  } = {},
): Promise<LocalStack> {
  const base = {
    port: 0,
    logLevel: options.logLevel ?? ('SILENT' as const),
    demoPassword: DEMO_PASSWORD,
    outbound: { allowLoopback: options.outbound?.allowLoopback ?? true, resolve: options.outbound?.resolve ?? offlineResolver },
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.certListener ? { certListener: options.certListener } : {}),
    ...(options.contextRuntime ? { contextRuntime: options.contextRuntime } : {}),
  };
  if (backend === 'embedded') return startLocalStack(base);
  const endpoint = process.env['CLOUDCARD_TEST_EMULATOR'];
  if (!endpoint) throw new Error('no AWS emulator endpoint: the global setup did not run');
  const region = process.env['AWS_REGION'] ?? EMULATOR_REGION;
  const kms = createKmsClient({ endpoint, region, credentials: EMULATOR_CREDENTIALS });
  const kek = await kms.send(new CreateKeyCommand({ Description: 'e2e KEK' }));
  const signing = await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', Description: 'e2e signing' }));
  const hmac = () => kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'e2e MAC key' }));
  const [sessionKey, pinKey] = [await hmac(), await hmac()];
  kms.destroy();
  const suffix = randomBytes(4).toString('hex');
  return startLocalStack({
    ...base,
    env: { ...options.env, DIRECTORY_TABLE: `cc-e2e-directory-${suffix}`, STATE_TABLE: `cc-e2e-state-${suffix}` },
    aws: {
      endpoint,
      region,
      credentials: EMULATOR_CREDENTIALS,
      cardKekKeyId: kek.KeyMetadata!.Arn!,
      signingKeyId: signing.KeyMetadata!.Arn!,
      cardSessionKeyId: sessionKey.KeyMetadata!.Arn!,
      cardPinKeyId: pinKey.KeyMetadata!.Arn!,
    },
  });
}

/**
 * Dynamic registration is closed by default: a suite that registers clients (RFC 7591) opens it on its
 * tenant, as an operator would (`cloudcard tenant update <tenant> --registration open`).
 */
export async function allowRegistration(stack: LocalStack, tenant = 'demo', mode: RegistrationMode = 'open'): Promise<void> {
  await directoryServices(stack.runtime).tenants.update(tenant, { oidc: { registration: mode } });
}
