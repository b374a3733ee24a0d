import * as z from './core/zod.ts';
import { ENV } from './contexts.ts';

/** Configuration is read once, at init; a bad value stops the function there and names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly variables: readonly string[];
  constructor(problems: readonly { variable: string; message: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`);
    this.variables = problems.map((p) => p.variable);
  }
}

const pattern = (regex: RegExp, message: string) => z.string().check(z.regex(regex, message));
const tableName = pattern(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name');
const baseUrl = z.url().check(z.refine((u) => /^https?:\/\//.test(u) && !u.endsWith('/'), 'must be an http(s) URL without a trailing slash'));
const keyId = z.optional(z.string().check(z.minLength(1)));

const schema = z.object({
  [ENV.stage]: pattern(/^[a-z][a-z0-9-]{0,20}$/, 'must be a short lower-case stage name'),
  [ENV.directoryTable]: tableName,
  [ENV.stateTable]: tableName,
  [ENV.keyProvider]: z.enum(['kms', 'local']),
  [ENV.cardKekKeyId]: keyId,
  [ENV.signingKeyId]: keyId,
  [ENV.cardSessionKeyId]: keyId,
  [ENV.cardPinKeyId]: keyId,
  [ENV.defaultCustody]: z._default(z.enum(['wrapped', 'kms-resident']), 'wrapped'),
  [ENV.publicBaseUrl]: z.optional(baseUrl),
  // The mutual-TLS origin for certificate (smart-card) login; absent: the portal offers no card sign-in.
  [ENV.certBaseUrl]: z.optional(baseUrl.check(z.refine((u) => u.startsWith('https://'), 'must be an https URL'))),
  [ENV.maxBodyBytes]: z._default(z.coerce.number().check(z.int(), z.minimum(1024), z.maximum(6 * 1024 * 1024)), 256 * 1024),
  [ENV.trustedLocationHeaders]: z._default(z.enum(['true', 'false'], { message: 'must be true or false' }), 'false'),
  // The oidc function's per-container cache of tenants and clients: the bound on serving a stale one.
  [ENV.directoryCacheSeconds]: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(300)), 30),
  [ENV.truststoreBucket]: z.optional(pattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')),
  [ENV.truststoreKey]: z.optional(pattern(/^[A-Za-z0-9!_.*'()/-]{1,1024}$/, 'must be an S3 object key')),
  [ENV.certDomainName]: z.optional(pattern(/^[a-z0-9.-]{4,253}$/, 'must be a lower-case DNS name')),
  [ENV.logoutRelayFunction]: z.optional(pattern(/^[A-Za-z0-9_-]{1,64}$/, 'must be a Lambda function name')),
});

export interface Config {
  readonly stage: string;
  readonly directoryTable: string;
  readonly stateTable: string;
  readonly keyProvider: 'kms' | 'local';
  readonly cardKekKeyId?: string;
  readonly signingKeyId?: string;
  /** The HMAC key sealing card-session state (card function only). */
  readonly cardSessionKeyId?: string;
  /** The HMAC key keying PIN and PUK hashes (card and admin functions). */
  readonly cardPinKeyId?: string;
  readonly defaultCustody: 'wrapped' | 'kms-resident';
  readonly publicBaseUrl?: string;
  /** Base URL of the mutual-TLS origin (custom domain or the local HTTPS listener) where certificate login runs. */
  readonly certBaseUrl?: string;
  readonly maxBodyBytes: number;
  /** The CDN in front sets `CloudFront-Viewer-*` location headers and strips clients' own: only then are they read. */
  readonly trustedLocationHeaders: boolean;
  /**
   * How long the oidc function may serve a tenant or client it read (0: no cache). A tenant or client
   * disabled, changed or deleted, or a client secret rotated, is honoured by the token path for at most
   * this long; the access check (user and tenant status at refresh and code redemption) never uses it.
   */
  readonly directoryCacheSeconds: number;
  /** Where the mutual-TLS truststore is published (admin function, stacks with a certificate domain). */
  readonly truststore?: TruststoreLocation;
  /** The function relying-party logouts are handed to (functions without the token-signing key, in AWS). */
  readonly logoutRelayFunction?: string;
}

export interface TruststoreLocation {
  readonly bucket: string;
  readonly key: string;
  /** The API Gateway custom domain whose truststore version follows each new object version. */
  readonly domainName: string;
}

export interface ConfigNeeds {
  /** The function wraps or unwraps card keys. */
  readonly cardKek?: boolean;
  /** The function signs tokens, assertions or objects. */
  readonly signingKey?: boolean;
  /** The function seals card-session state. */
  readonly cardSessionKey?: boolean;
  /** The function hashes or checks PINs and PUKs. */
  readonly cardPinKey?: boolean;
}

/** Validates the environment; throws ConfigError naming every bad or missing variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, needs: ConfigNeeds = {}): Config {
  const input = Object.fromEntries(Object.values(ENV).map((name) => [name, env[name] === '' ? undefined : env[name]]));
  const parsed = schema.safeParse(input);
  const problems: { variable: string; message: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0] ?? '?');
      problems.push({ variable, message: input[variable] === undefined ? 'is required' : issue.message });
    }
  }
  const value = parsed.success ? parsed.data : undefined;
  // Checked on the raw input so one report names every problem, even when others failed too.
  if (input[ENV.keyProvider] === 'kms') {
    if (needs.cardKek && !input[ENV.cardKekKeyId]) problems.push({ variable: ENV.cardKekKeyId, message: 'is required' });
    if (needs.signingKey && !input[ENV.signingKeyId]) problems.push({ variable: ENV.signingKeyId, message: 'is required' });
    if (needs.cardSessionKey && !input[ENV.cardSessionKeyId]) problems.push({ variable: ENV.cardSessionKeyId, message: 'is required' });
    if (needs.cardPinKey && !input[ENV.cardPinKeyId]) problems.push({ variable: ENV.cardPinKeyId, message: 'is required' });
  }
  // The truststore location is all three variables or none.
  const truststoreVariables = [ENV.truststoreBucket, ENV.truststoreKey, ENV.certDomainName];
  if (truststoreVariables.some((name) => input[name]) && !truststoreVariables.every((name) => input[name])) {
    for (const name of truststoreVariables)
      if (!input[name]) problems.push({ variable: name, message: `is required with ${truststoreVariables.filter((n) => input[n]).join(', ')}` });
  }
  if (problems.length > 0 || !value) throw new ConfigError(problems);
  const [bucket, key, domainName] = [value[ENV.truststoreBucket], value[ENV.truststoreKey], value[ENV.certDomainName]];
  return {
    stage: value[ENV.stage],
    directoryTable: value[ENV.directoryTable],
    stateTable: value[ENV.stateTable],
    keyProvider: value[ENV.keyProvider],
    cardKekKeyId: value[ENV.cardKekKeyId],
    signingKeyId: value[ENV.signingKeyId],
    cardSessionKeyId: value[ENV.cardSessionKeyId],
    cardPinKeyId: value[ENV.cardPinKeyId],
    defaultCustody: value[ENV.defaultCustody],
    publicBaseUrl: value[ENV.publicBaseUrl],
    ...(value[ENV.certBaseUrl] ? { certBaseUrl: value[ENV.certBaseUrl] } : {}),
    maxBodyBytes: value[ENV.maxBodyBytes],
    trustedLocationHeaders: value[ENV.trustedLocationHeaders] === 'true',
    directoryCacheSeconds: value[ENV.directoryCacheSeconds],
    ...(bucket && key && domainName ? { truststore: { bucket, key, domainName } } : {}),
    ...(value[ENV.logoutRelayFunction] ? { logoutRelayFunction: value[ENV.logoutRelayFunction] } : {}),
  };
}
