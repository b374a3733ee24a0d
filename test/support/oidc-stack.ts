import { randomBytes } from 'node:crypto';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../../lambdas/adapters/kms/client.ts';
import type { Clock } from '../../lambdas/ports.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import type { RegistrationMode } from '../../lambdas/core/directory/tenant.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { BackendName } from './backends.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from './emulator.ts';

export const DEMO_PASSWORD = 'correct horse battery staple';

/**
 * The whole local stack on one of the two backends: "embedded" (dynalite + local key file) or
 * "emulator" (DynamoDB tables, KMS key-encryption key and KMS RSA signing key on the AWS emulator, through
 * the same AWS adapters the Lambda functions use).
 */
export async function startStackOn(backend: BackendName, options: { clock?: Clock } = {}): Promise<LocalStack> {
  const base = { port: 0, logLevel: 'SILENT' as const, demoPassword: DEMO_PASSWORD, ...(options.clock ? { clock: options.clock } : {}) };
  if (backend === 'embedded') return startLocalStack(base);
  const endpoint = process.env['CLOUDCARD_TEST_EMULATOR'];
  if (!endpoint) throw new Error('no AWS emulator endpoint: the global setup did not run');
  const region = process.env['AWS_REGION'] ?? EMULATOR_REGION;
  const kms = createKmsClient({ endpoint, region, credentials: EMULATOR_CREDENTIALS });
  const kek = await kms.send(new CreateKeyCommand({ Description: 'e2e KEK' }));
  const signing = await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', Description: 'e2e signing' }));
  kms.destroy();
  const suffix = randomBytes(4).toString('hex');
  return startLocalStack({
    ...base,
    env: { DIRECTORY_TABLE: `cc-e2e-directory-${suffix}`, STATE_TABLE: `cc-e2e-state-${suffix}` },
    aws: { endpoint, region, credentials: EMULATOR_CREDENTIALS, cardKekKeyId: kek.KeyMetadata!.Arn!, signingKeyId: signing.KeyMetadata!.Arn! },
  });
}

/**
 * Dynamic registration is closed by default: a suite that registers clients (RFC 7591) opens it on its
 * tenant, as an operator would (`cloudcard tenant update <tenant> --registration open`).
 */
export async function allowRegistration(stack: LocalStack, tenant = 'demo', mode: RegistrationMode = 'open'): Promise<void> {
  await directoryServices(stack.runtime).tenants.update(tenant, { oidc: { registration: mode } });
}
