import type { AwsCredentialIdentity } from '@smithy/types';

/**
 * AWS credentials from the environment, as Lambda provides them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN). The deployed functions pass this provider explicitly, and the bundles alias the
 * SDK's default chain (`@aws-sdk/credential-provider-node`: SSO, STS, profiles, IMDS, ~135 KiB) to this
 * module (lib/function.ts `LAMBDA_ESBUILD`), so none of that chain is bundled or evaluated at init.
 */
export async function envCredentials(): Promise<AwsCredentialIdentity> {
  const accessKeyId = process.env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = process.env['AWS_SECRET_ACCESS_KEY'];
  if (!accessKeyId || !secretAccessKey) throw new Error('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)');
  const sessionToken = process.env['AWS_SESSION_TOKEN'];
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** The default chain's export, for the bundles' alias: any SDK client left on its default gets the environment. */
export const defaultProvider = (): typeof envCredentials => envCredentials;
