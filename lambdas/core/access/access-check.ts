import type { Tenant, Tenants } from '../directory/tenant.ts';
import type { User, Users } from '../directory/user.ts';
import { NotFoundError } from '../errors.ts';

/**
 * Every way an access granted earlier is carried on without a new sign-in. Each one goes through
 * `AccessCheck.continueAccess` before it yields anything (a token, a code, an assertion, a signature).
 */
export type ContinuationKind =
  | 'refresh'
  | 'code'
  | 'device-code'
  | 'sso-reuse-oidc'
  | 'sso-reuse-saml'
  /** An SP resolving the artifact of a Response issued moments before (the user may have been disabled since). */
  | 'saml-artifact'
  | 'userinfo'
  | 'card-session-open'
  | 'apdu';

/**
 * Where the request came from. Nothing decides on it yet: the token-protection work (issue 13) feeds
 * it to its risk evaluation, so every caller already passes what it knows.
 */
export interface AccessContext {
  readonly ip?: string;
  readonly userAgent?: string;
  /** RFC 7638 thumbprint of the key the caller proved (DPoP key, agent device key). */
  readonly keyThumbprint?: string;
}

/** A typed description of one continuation: who continues what, for whom, from where. */
export interface Continuation {
  readonly kind: ContinuationKind;
  readonly tenant: string;
  /** A user (read and checked) or an OAuth client acting for itself (client_credentials: no user). */
  readonly subject: { readonly user: string } | { readonly client: string };
  /** The relying party the access is continued for: an OAuth client id or `saml:{SP entityID}`. */
  readonly audience?: string;
  /** When the access being continued was granted by a sign-in (epoch seconds, e.g. `auth_time`). */
  readonly grantedAt?: number;
  /** Ids of what is continued, for the decision record (SSO session `sid`, grant id, card session id, card). */
  readonly sessionId?: string;
  readonly grantId?: string;
  readonly card?: string;
  readonly context?: AccessContext;
}

export type DenialReason = 'tenant-missing' | 'tenant-disabled' | 'user-missing' | 'user-disabled' | 'revoked';

/**
 * The answer. Open by design: the risk work adds e.g. `{ outcome: 'step-up', ... }`, and every caller's
 * exhaustive mapping then has to say what step-up means in its protocol.
 */
export type AccessDecision =
  /** `user`: the user as read, when the subject is one (so a caller such as userinfo need not read it again). */
  | { readonly outcome: 'allow'; readonly user?: User }
  | { readonly outcome: 'deny'; readonly reason: DenialReason; readonly message: string };
const deny = (reason: DenialReason, message: string): AccessDecision => ({ outcome: 'deny', reason, message });

/**
 * The one access check. It reads the tenant and the user (in parallel, the user only when the subject
 * is one) and refuses when either is missing or disabled, or when access was revoked after the
 * continued access was granted (`accessRevokedAt`, set by disabling): so re-enabling a tenant never
 * brings back a session, token or code from before, even if the proactive revocation was cut short.
 */
export class AccessCheck {
  readonly #tenants: Pick<Tenants, 'find'>;
  readonly #users: Pick<Users, 'get'>;

  constructor(tenants: Pick<Tenants, 'find'>, users: Pick<Users, 'get'>) {
    this.#tenants = tenants;
    this.#users = users;
  }

  async continueAccess(continuation: Continuation): Promise<AccessDecision> {
    const username = 'user' in continuation.subject ? continuation.subject.user : undefined;
    const [tenant, user] = await Promise.all([this.#tenants.find(continuation.tenant), username === undefined ? undefined : this.#user(continuation.tenant, username)]);
    return decide(continuation, tenant, username === undefined ? null : user);
  }

  async #user(tenant: string, username: string): Promise<User | undefined> {
    try {
      return await this.#users.get(tenant, username);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }
}

/** The rule itself, over what was read (`user` null: the subject is a client, there is no user to check). */
export function decide(continuation: Pick<Continuation, 'grantedAt'>, tenant: Tenant | undefined, user: User | undefined | null): AccessDecision {
  if (!tenant) return deny('tenant-missing', 'the tenant does not exist');
  if (tenant.status !== 'active') return deny('tenant-disabled', 'the tenant is disabled');
  if (revokedSince(tenant.accessRevokedAt, continuation.grantedAt)) return deny('revoked', "the tenant's access was revoked after this was granted");
  if (user === null) return { outcome: 'allow' };
  if (!user) return deny('user-missing', 'the user no longer exists');
  if (user.status !== 'active') return deny('user-disabled', 'the user is disabled');
  if (revokedSince(user.accessRevokedAt, continuation.grantedAt)) return deny('revoked', "the user's access was revoked after this was granted");
  return { outcome: 'allow', user };
}

/**
 * Granted strictly before the revocation's second. Something granted in that same second survives
 * only if its proactive revocation also failed; a continuation with no grant time is not compared.
 */
const revokedSince = (revokedAt: number | undefined, grantedAt: number | undefined): boolean =>
  revokedAt !== undefined && grantedAt !== undefined && grantedAt < revokedAt;
