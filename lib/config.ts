import { isIPv6 } from 'node:net';

/**
 * The CDK context the app reads (documented in README.md, "Deploying"), validated once so a bad value stops
 * synth with a message naming the key instead of surfacing later as a CloudFormation error.
 */
export const STAGES = ['dev', 'prod'] as const;
export type Stage = (typeof STAGES)[number];

export const CUSTODY_MODES = ['wrapped', 'kms-resident'] as const;
export type Custody = (typeof CUSTODY_MODES)[number];

/** The retention periods CloudWatch Logs accepts (RetentionDays without INFINITE). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

export interface CloudcardConfig {
  readonly stage: Stage;
  /** Custom domain for the API (regional); set together with certificateArn. */
  readonly domainName?: string;
  readonly certificateArn?: string;
  /**
   * Second custom domain on the same API, with mutual TLS, for certificate (smart card) login; set
   * together with certCertificateArn. A separate name because a mutual-TLS domain asks every visitor for
   * a certificate.
   */
  readonly certDomainName?: string;
  readonly certCertificateArn?: string;
  /** Default card key custody for new tenants. */
  readonly custody: Custody;
  /** Existing CloudHSM-backed KMS custom key store to hold the card key-encryption key. */
  readonly customKeyStoreId?: string;
  /** API stage steady-state requests per second and burst. */
  readonly throttleRate: number;
  readonly throttleBurst: number;
  /** Requests per client IP per 5 minutes before WAF blocks. */
  readonly wafRateLimit: number;
  readonly logRetentionDays: number;
  readonly alarmEmail?: string;
  /** IAM roles (this account) the operator CLI runs under with `--stack`: named in the key policies, given the operator policy. */
  readonly operatorRoleArns: readonly string[];
  /** When non-empty, the tenant admin API answers only these CIDR blocks (WAF). */
  readonly adminAllowedCidrs: readonly string[];
  /**
   * A CDN in front of the API sets CloudFront-Viewer-* location headers (and overwrites clients' own), so
   * the functions may read them for token protection. Never true by default: on the plain API URL any
   * client could send them.
   */
  readonly trustedLocationHeaders?: boolean;
}

/** Defaults; cdk.json repeats them so they are visible (test/infra checks the two agree). */
export const CONTEXT_DEFAULTS = {
  stage: 'dev',
  custody: 'wrapped',
  throttleRate: 50,
  throttleBurst: 100,
  wafRateLimit: 2000,
  logRetentionDays: 30,
} as const satisfies Partial<CloudcardConfig>;

/** Every context key the app reads. */
export const CONTEXT_KEYS = [
  'stage',
  'domainName',
  'certificateArn',
  'certDomainName',
  'certCertificateArn',
  'custody',
  'customKeyStoreId',
  'throttleRate',
  'throttleBurst',
  'wafRateLimit',
  'logRetentionDays',
  'alarmEmail',
  'operatorRoleArns',
  'adminAllowedCidrs',
  'trustedLocationHeaders',
] as const satisfies readonly (keyof CloudcardConfig)[];

export class ContextError extends Error {
  override readonly name = 'ContextError';
  readonly key: string;
  constructor(key: string, problem: string, value: unknown) {
    super(`Invalid CDK context "${key}": ${problem} (got ${JSON.stringify(value)})`);
    this.key = key;
  }
}

type Lookup = (key: string) => unknown;

// `-c key=` on the command line gives an empty string: treat it as unset so it can clear a cdk.json value.
const raw = (get: Lookup, key: string): unknown => {
  const value = get(key);
  return value === '' || value === null ? undefined : value;
};

function oneOf<T extends string>(get: Lookup, key: string, allowed: readonly T[], fallback: T): T {
  const value = raw(get, key) ?? fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ContextError(key, `must be one of ${allowed.join(', ')}`, value);
  }
  return value as T;
}

// Numbers come from cdk.json as numbers and from `-c` as strings.
function number(get: Lookup, key: string, fallback: number, check: (n: number) => boolean, rule: string): number {
  const value = raw(get, key) ?? fallback;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || !check(n)) throw new ContextError(key, `must be ${rule}`, value);
  return n;
}

// Booleans come from cdk.json as booleans and from `-c` as strings.
function flag(get: Lookup, key: string): boolean {
  const value = raw(get, key) ?? false;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ContextError(key, 'must be true or false', value);
}

function pattern(get: Lookup, key: string, re: RegExp, rule: string): string | undefined {
  const value = raw(get, key);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !re.test(value)) throw new ContextError(key, `must be ${rule}`, value);
  return value;
}

const HOSTNAME = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/;
const CUSTOM_KEY_STORE_ID = /^cks-[0-9a-f]{17}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const MAX_OPERATOR_ROLES = 10;

const MAX_ADMIN_CIDRS = 50;
const IPV4_CIDR = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(3[0-2]|[12]?\d)$/;
const IPV6_CIDR = /^[0-9a-f:]*:[0-9a-f:]*\/(12[0-8]|1[01]\d|[1-9]?\d)$/i;

/** A list from cdk.json (an array) or from `-c key=a,b` (a comma-separated string), each item checked. */
function list(get: Lookup, key: string, valid: (item: string) => boolean, max: number, rule: string): string[] {
  const value = raw(get, key);
  if (value === undefined) return [];
  const items =
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean)
      : value;
  if (!Array.isArray(items) || items.length > max || !items.every((item) => typeof item === 'string' && valid(item))) {
    throw new ContextError(key, `must be up to ${max} ${rule}, comma-separated or a JSON array`, value);
  }
  return [...new Set(items as string[])];
}

/** Reads and validates the context; throws ContextError naming the first bad key. */
export function readConfig(get: Lookup): CloudcardConfig {
  const domainName = pattern(get, 'domainName', HOSTNAME, 'a lower-case DNS name such as id.example.com');
  const certificateArn = pattern(get, 'certificateArn', ACM_ARN, 'an ACM certificate ARN');
  if (domainName && !certificateArn) {
    throw new ContextError('certificateArn', 'is required when domainName is set (an ACM certificate in the stack region)', certificateArn);
  }
  if (certificateArn && !domainName) throw new ContextError('domainName', 'is required when certificateArn is set', domainName);
  const certDomainName = pattern(get, 'certDomainName', HOSTNAME, 'a lower-case DNS name such as cert.id.example.com');
  const certCertificateArn = pattern(get, 'certCertificateArn', ACM_ARN, 'an ACM certificate ARN');
  if (certDomainName && !certCertificateArn) {
    throw new ContextError('certCertificateArn', 'is required when certDomainName is set (an ACM certificate in the stack region)', certCertificateArn);
  }
  if (certCertificateArn && !certDomainName) throw new ContextError('certDomainName', 'is required when certCertificateArn is set', certDomainName);
  if (certDomainName && certDomainName === domainName) {
    throw new ContextError('certDomainName', 'must differ from domainName (a mutual-TLS domain asks every visitor for a certificate)', certDomainName);
  }
  const throttleRate = number(get, 'throttleRate', CONTEXT_DEFAULTS.throttleRate, (n) => n > 0 && n <= 10_000, 'a number of requests per second in (0, 10000]');
  const throttleBurst = number(
    get,
    'throttleBurst',
    CONTEXT_DEFAULTS.throttleBurst,
    (n) => Number.isInteger(n) && n >= 1 && n <= 5_000,
    'an integer in [1, 5000]',
  );
  return {
    stage: oneOf(get, 'stage', STAGES, CONTEXT_DEFAULTS.stage),
    domainName,
    certificateArn,
    ...(certDomainName && certCertificateArn ? { certDomainName, certCertificateArn } : {}),
    custody: oneOf(get, 'custody', CUSTODY_MODES, CONTEXT_DEFAULTS.custody),
    customKeyStoreId: pattern(get, 'customKeyStoreId', CUSTOM_KEY_STORE_ID, 'a KMS custom key store ID (cks- and 17 hex digits)'),
    throttleRate,
    throttleBurst,
    wafRateLimit: number(
      get,
      'wafRateLimit',
      CONTEXT_DEFAULTS.wafRateLimit,
      (n) => Number.isInteger(n) && n >= 10 && n <= 2_000_000_000,
      'an integer in [10, 2000000000] (requests per IP per 5 minutes)',
    ),
    logRetentionDays: number(
      get,
      'logRetentionDays',
      CONTEXT_DEFAULTS.logRetentionDays,
      (n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n),
      `one of ${LOG_RETENTION_DAYS.join(', ')}`,
    ),
    alarmEmail: pattern(get, 'alarmEmail', EMAIL, 'an e-mail address'),
    operatorRoleArns: list(get, 'operatorRoleArns', (item) => ROLE_ARN.test(item), MAX_OPERATOR_ROLES, 'IAM role ARNs (arn:aws:iam::123456789012:role/name)'),
    adminAllowedCidrs: list(
      get,
      'adminAllowedCidrs',
      (item) => IPV4_CIDR.test(item) || (IPV6_CIDR.test(item) && isIPv6(item.split('/')[0]!)),
      MAX_ADMIN_CIDRS,
      'CIDR blocks (203.0.113.0/24, 2001:db8::/32)',
    ),
    ...(flag(get, 'trustedLocationHeaders') ? { trustedLocationHeaders: true } : {}),
  };
}
