import { decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { Clock, OutboundHttp } from '../../ports.ts';
import { RemoteKeySets } from '../outbound/remote-key-sets.ts';
import type { Tenant, TrustedIssuer } from '../directory/tenant.ts';
import type { AccessCheck, AccessContext } from '../access/access-check.ts';
import type { AccessTokenClaims } from '../oidc/tokens.ts';

/** Why a bearer token is refused; the card API answers 401 with this. */
export class UntrustedTokenError extends Error {
  override readonly name = 'UntrustedTokenError';
}

/** The tenant's own access-token check (signature, issuer, type, expiry, grant and token not revoked). */
export type BuiltInVerifier = (tenant: Tenant, issuer: string, token: string) => Promise<AccessTokenClaims>;

export interface CardPrincipal {
  readonly username: string;
  /** When the token is bound to a key (DPoP `cnf.jkt`), the device key must be that key. */
  readonly boundJkt?: string;
  readonly issuer: string;
  /** When the user signed in for this token (`auth_time`, else `iat`): revocations after it refuse the token. */
  readonly grantedAt?: number;
  /** The grant (refresh-token family) of a token from the tenant's own issuer: a device registered with it records it. */
  readonly grant?: string;
}

const EXTERNAL_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

/**
 * Who is calling the card API: a JWT from the tenant's own issuer (an access token with the `card`
 * scope, obtained by a user sign-in) or from an OpenID provider the tenant trusts (verified against its
 * JWKS, fetched through the outbound URL policy and cached per process; audience checked; `userClaim`
 * names the tenant user). The token is then carried on through the one access check (kind `card-api`):
 * the user must exist and be active, and nothing revoked since the token's sign-in.
 */
export class CardApiTrust {
  readonly #builtIn: BuiltInVerifier;
  readonly #access: Pick<AccessCheck, 'continueAccess'>;
  readonly #clock: Clock;
  readonly #jwks: RemoteKeySets;

  constructor(builtIn: BuiltInVerifier, access: Pick<AccessCheck, 'continueAccess'>, clock: Clock, outbound: OutboundHttp) {
    this.#builtIn = builtIn;
    this.#access = access;
    this.#clock = clock;
    this.#jwks = new RemoteKeySets(outbound, clock);
  }

  async authenticate(tenant: Tenant, ownIssuer: string, token: string | undefined, context?: AccessContext): Promise<CardPrincipal> {
    if (!token || token.length > 16_384) throw new UntrustedTokenError('a bearer token from an identity provider the tenant trusts is required');
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new UntrustedTokenError('the bearer token is not a JWT');
    }
    const principal =
      unverified.iss === ownIssuer
        ? await this.#fromOwnIssuer(tenant, ownIssuer, token)
        : await this.#fromTrustedIssuer(
            tenant,
            token,
            (tenant.trustedIssuers ?? []).find((trusted) => trusted.issuer === unverified.iss),
          );
    // RFC 9449 §7.1: a DPoP-bound token is only usable with the DPoP scheme and a proof. The card API takes
    // bearer tokens only, so a bound token (a stolen one, presented without its key) is refused.
    if (principal.boundJkt)
      throw new UntrustedTokenError('the token is DPoP-bound (cnf.jkt) and cannot be used as a Bearer token; the card API needs an unbound access token');
    const decision = await this.#access.continueAccess({
      kind: 'card-api',
      tenant: tenant.id,
      subject: { user: principal.username },
      audience: principal.issuer,
      ...(principal.grantedAt === undefined ? {} : { grantedAt: principal.grantedAt }),
      ...(context ? { context } : {}),
    });
    // RFC 6750 §3.1: a token whose access ended is an invalid token (401), whatever ended it.
    if (decision.outcome !== 'allow') throw new UntrustedTokenError(`the token no longer gives access: ${decision.message}`);
    return principal;
  }

  async #fromOwnIssuer(tenant: Tenant, issuer: string, token: string): Promise<CardPrincipal> {
    let claims: AccessTokenClaims;
    try {
      claims = await this.#builtIn(tenant, issuer, token);
    } catch {
      throw new UntrustedTokenError('the access token is invalid, expired, revoked or from another tenant');
    }
    if (!claims.scope.split(' ').includes('card')) throw new UntrustedTokenError('the access token lacks the card scope');
    // A user's token carries when the user signed in; a client_credentials token has no user at all.
    if (typeof claims['auth_time'] !== 'number') throw new UntrustedTokenError('the access token was not issued to a signed-in user');
    return { username: claims.sub, issuer, grantedAt: claims['auth_time'], grant: claims.gid, ...(claims.cnf?.jkt ? { boundJkt: claims.cnf.jkt } : {}) };
  }

  async #fromTrustedIssuer(tenant: Tenant, token: string, trusted: TrustedIssuer | undefined): Promise<CardPrincipal> {
    if (!trusted) throw new UntrustedTokenError(`tenant ${tenant.id} does not trust the token's issuer`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwks.resolver(trusted.jwksUri), {
        issuer: trusted.issuer,
        audience: trusted.audience,
        algorithms: EXTERNAL_ALGORITHMS,
        currentDate: new Date(this.#clock.now()),
        requiredClaims: ['exp'],
      }));
    } catch {
      throw new UntrustedTokenError('the token does not verify against its issuer, or is expired or for another audience');
    }
    const username = payload[trusted.userClaim];
    if (typeof username !== 'string' || username.length === 0) throw new UntrustedTokenError(`the token lacks the ${trusted.userClaim} claim`);
    const cnf = payload['cnf'] as { jkt?: unknown } | undefined;
    const signedInAt = typeof payload['auth_time'] === 'number' ? payload['auth_time'] : payload.iat;
    return {
      username: username.toLowerCase(),
      issuer: trusted.issuer,
      ...(typeof signedInAt === 'number' ? { grantedAt: signedInAt } : {}),
      ...(typeof cnf?.jkt === 'string' ? { boundJkt: cnf.jkt } : {}),
    };
  }
}
