import { CommanderError } from 'commander';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../lambdas/core/errors.ts';
import { OAuthError } from '../lambdas/core/oidc/errors.ts';
import { SamlError } from '../lambdas/core/saml/xml.ts';
import { DataDirBusyError } from '../local/data-dir.ts';

const SAML_REQUESTER = 'urn:oasis:names:tc:SAML:2.0:status:Requester';

/**
 * The CLI's exit codes (documented in the README, "Operator CLI"): scripts branch on them instead of
 * parsing messages.
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  /** Bad command line or invalid input (a value a rule refuses). */
  usage: 2,
  notFound: 3,
  /** The thing exists already, changed meanwhile, or was consumed. */
  conflict: 4,
  /** AWS credentials missing, expired or not allowed to do this. */
  auth: 5,
  /** A store, key service or the stack could not be reached. */
  unavailable: 6,
} as const;

export interface CliFailure {
  readonly exitCode: number;
  /** A stable, machine-readable name of the kind of failure (the JSON error's `code`). */
  readonly code: keyof typeof EXIT;
  readonly message: string;
  readonly details?: readonly string[];
  /** What to do about it, when we know. */
  readonly hint?: string;
}

const AUTH_ERRORS = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredToken',
  'ExpiredTokenException',
  'CredentialsProviderError',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
]);
const UNAVAILABLE_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'ECONNRESET',
  'TimeoutError',
  'ThrottlingException',
  'ServiceUnavailable',
  'InternalFailure',
]);

/** Translates any error a command can end with into an exit code, a one-line message and a hint. */
export function describeFailure(error: unknown): CliFailure {
  if (error instanceof CommanderError)
    return { exitCode: EXIT.usage, code: 'usage', message: error.message.replace(/^error: /, ''), hint: 'see --help for the command' };
  if (error instanceof ValidationError)
    return { exitCode: EXIT.usage, code: 'usage', message: error.message, ...(error.issues.length ? { details: error.issues } : {}) };
  if (error instanceof NotFoundError) return { exitCode: EXIT.notFound, code: 'notFound', message: error.message };
  if (error instanceof ConflictError) return { exitCode: EXIT.conflict, code: 'conflict', message: error.message };
  // Input a rule refuses, whichever protocol's error carries it: client metadata (invalid_client_metadata,
  // invalid_redirect_uri), SP metadata (DTDs, expired, schema) and attribute maps.
  if (error instanceof OAuthError && error.status === 400) return { exitCode: EXIT.usage, code: 'usage', message: error.message };
  if (error instanceof SamlError && error.status === SAML_REQUESTER) return { exitCode: EXIT.usage, code: 'usage', message: error.message };
  if (error instanceof DataDirBusyError)
    return { exitCode: EXIT.conflict, code: 'conflict', message: error.message, hint: 'retry when the other command has finished' };
  if (error instanceof UnavailableError)
    return { exitCode: EXIT.unavailable, code: 'unavailable', message: error.message, hint: 'check the network, the AWS endpoint and the stack, then retry' };
  const sdk = error as { name?: string; code?: string; message?: string };
  const message = sdk.message ?? String(error);
  if (/Region is missing/i.test(message)) {
    return {
      exitCode: EXIT.usage,
      code: 'usage',
      message: 'no AWS region is set',
      hint: 'pass --region eu-west-1, or set AWS_REGION, or a region in your AWS profile (~/.aws/config)',
    };
  }
  if (AUTH_ERRORS.has(sdk.name ?? '') || /Could not load credentials/i.test(message)) {
    return {
      exitCode: EXIT.auth,
      code: 'auth',
      message,
      hint: /credentials/i.test(message)
        ? 'sign in to AWS first (aws sso login, or AWS_PROFILE / AWS_ACCESS_KEY_ID)'
        : "your role must be in the stack's operatorRoleArns context (key policies) and have the OperatorPolicyArn policy",
    };
  }
  if (UNAVAILABLE_ERRORS.has(sdk.name ?? '') || UNAVAILABLE_ERRORS.has(sdk.code ?? '')) {
    return { exitCode: EXIT.unavailable, code: 'unavailable', message, hint: 'check the network and the AWS endpoint, then retry' };
  }
  return { exitCode: EXIT.failure, code: 'failure', message };
}

/** The failure as the user sees it: one line (plus details and the hint) or, under --json, one JSON object. */
export function renderFailure(failure: CliFailure, json: boolean): string {
  if (json)
    return `${JSON.stringify({ error: { code: failure.code, message: failure.message, exitCode: failure.exitCode, ...(failure.details ? { details: failure.details } : {}), ...(failure.hint ? { hint: failure.hint } : {}) } })}\n`;
  const details = failure.details?.length ? `\n  ${failure.details.join('\n  ')}` : '';
  return `cloudcard: ${failure.message}${details}\n${failure.hint ? `hint: ${failure.hint}\n` : ''}`;
}
