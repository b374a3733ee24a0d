/**
 * The bounded contexts and the public paths each one serves. One Lambda function per context in AWS;
 * the local gateway routes with the same table, so both stay in step by construction.
 */
export type ContextName = 'oidc' | 'saml' | 'portal' | 'card' | 'admin' | 'pki';

export interface ContextRoutes {
  /** Path prefixes (API Gateway resource paths) proxied to this context, `{proxy+}` appended. */
  readonly prefixes: readonly string[];
  /** Exact paths (no proxy) served by this context. */
  readonly exact: readonly string[];
}

export const CONTEXTS: Readonly<Record<ContextName, ContextRoutes>> = {
  oidc: { prefixes: ['/t/{tenant}/.well-known', '/t/{tenant}/oidc', '/t/{tenant}/ssf'], exact: [] },
  saml: { prefixes: ['/t/{tenant}/saml'], exact: [] },
  portal: { prefixes: ['/t/{tenant}/portal'], exact: [] },
  card: { prefixes: ['/t/{tenant}/card'], exact: [] },
  admin: { prefixes: ['/t/{tenant}/admin'], exact: ['/health', '/health/live', '/health/ready', '/openapi.json'] },
  pki: { prefixes: ['/t/{tenant}/pki'], exact: [] },
};

export const CONTEXT_NAMES = Object.keys(CONTEXTS) as ContextName[];

/** Environment variables every function reads at init (validated by lambdas/config.ts). */
export const ENV = {
  stage: 'STAGE',
  directoryTable: 'DIRECTORY_TABLE',
  stateTable: 'STATE_TABLE',
  keyProvider: 'KEY_PROVIDER',
  cardKekKeyId: 'CARD_KEK_KEY_ID',
  signingKeyId: 'SIGNING_KEY_ID',
  cardSessionKeyId: 'CARD_SESSION_KEY_ID',
  cardPinKeyId: 'CARD_PIN_KEY_ID',
  defaultCustody: 'DEFAULT_CUSTODY',
  publicBaseUrl: 'PUBLIC_BASE_URL',
  maxBodyBytes: 'MAX_BODY_BYTES',
  trustedLocationHeaders: 'TRUSTED_LOCATION_HEADERS',
  directoryCacheSeconds: 'DIRECTORY_CACHE_SECONDS',
  /** The certificate-login (mutual-TLS) origin's base URL, `https://{certDomainName}` (portal, oidc, saml). */
  certBaseUrl: 'CERT_BASE_URL',
  /** Where the admin function publishes the mutual-TLS truststore: the S3 bucket and key, and the domain to switch to each new version. */
  truststoreBucket: 'TRUSTSTORE_BUCKET',
  truststoreKey: 'TRUSTSTORE_KEY',
  certDomainName: 'CERT_DOMAIN_NAME',
  /** The function that signs relying-party logouts for this one (admin, portal: the oidc function's name), invoked asynchronously. */
  logoutRelayFunction: 'LOGOUT_RELAY_FUNCTION',
} as const;
