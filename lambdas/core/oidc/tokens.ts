import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Clock, Random } from '../../ports.ts';
import type { OidcSettings } from '../directory/tenant.ts';
import { signJwt } from './jwt.ts';
import type { TenantKeys } from './keys.ts';
import { s256 } from './hashing.ts';

export interface IssueRequest {
  readonly tenant: string;
  readonly issuer: string;
  readonly settings: OidcSettings;
  readonly clientId: string;
  /** The user, or the client itself for client_credentials. */
  readonly sub: string;
  readonly scope: string;
  readonly gid: string;
  readonly jkt?: string;
  /** RFC 8707: the service the access token is for (its `aud`); default the issuer. */
  readonly audience?: string;
  /** Present when a user authenticated (not for client_credentials). */
  readonly authentication?: { authTime: number; acr: string; amr: readonly string[]; sid?: string };
  readonly idToken?: { nonce?: string };
}

export interface IssuedTokens {
  readonly access_token: string;
  readonly token_type: 'Bearer' | 'DPoP';
  readonly expires_in: number;
  readonly scope: string;
  readonly id_token?: string;
}

/** The claims of one of our access tokens, once verified. */
export interface AccessTokenClaims extends JWTPayload {
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
  readonly gid: string;
  readonly jti: string;
  readonly exp: number;
  readonly cnf?: { jkt: string };
}

/**
 * Issues JWT access tokens (RFC 9068, `typ: at+jwt`) and ID tokens, signed with the tenant's current
 * key, and verifies access tokens against the tenant's published keys.
 */
export class TokenIssuer {
  readonly #keys: TenantKeys;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #jwksCache = new Map<string, { set: ReturnType<typeof createLocalJWKSet>; until: number }>();

  constructor(keys: TenantKeys, clock: Clock, random: Random) {
    this.#keys = keys;
    this.#clock = clock;
    this.#random = random;
  }

  async issue(request: IssueRequest): Promise<IssuedTokens> {
    const { kid, signer } = await this.#keys.currentSigner(request.tenant, request.settings);
    const iat = Math.floor(this.#clock.now() / 1000);
    const auth = request.authentication;
    const accessToken = await signJwt(
      signer,
      kid,
      {
        iss: request.issuer,
        sub: request.sub,
        aud: request.audience ?? request.issuer,
        client_id: request.clientId,
        scope: request.scope,
        iat,
        exp: iat + request.settings.accessTokenSeconds,
        jti: this.#random.id(),
        gid: request.gid,
        ...(auth ? { auth_time: auth.authTime, acr: auth.acr, amr: auth.amr } : {}),
        ...(request.jkt ? { cnf: { jkt: request.jkt } } : {}),
      },
      'at+jwt',
    );
    const idToken =
      request.idToken && auth
        ? await signJwt(signer, kid, {
            iss: request.issuer,
            sub: request.sub,
            aud: request.clientId,
            azp: request.clientId,
            iat,
            exp: iat + request.settings.idTokenSeconds,
            auth_time: auth.authTime,
            acr: auth.acr,
            amr: auth.amr,
            ...(auth.sid ? { sid: auth.sid } : {}),
            ...(request.idToken.nonce ? { nonce: request.idToken.nonce } : {}),
            at_hash: atHash(accessToken),
          })
        : undefined;
    return {
      access_token: accessToken,
      token_type: request.jkt ? 'DPoP' : 'Bearer',
      expires_in: request.settings.accessTokenSeconds,
      scope: request.scope,
      ...(idToken ? { id_token: idToken } : {}),
    };
  }

  /**
   * A signed UserInfo response (OIDC Core §5.3.2): the claims as a JWT signed by the tenant's current key,
   * with `iss` and `aud` (the client) so it cannot pass for another client's or another issuer's.
   */
  async signUserInfo(tenant: string, issuer: string, settings: OidcSettings, clientId: string, claims: Record<string, unknown>): Promise<string> {
    const { kid, signer } = await this.#keys.currentSigner(tenant, settings);
    return signJwt(signer, kid, { ...claims, iss: issuer, aud: clientId, iat: Math.floor(this.#clock.now() / 1000) });
  }

  /**
   * Verifies a JWT this tenant's functions signed for one another (signature by a published key, issuer,
   * audience, explicit `typ`, expiry); throws if invalid. The `typ` keeps it from passing for any token a
   * client holds.
   */
  async verifyInternal(
    tenant: string,
    issuer: string,
    settings: OidcSettings,
    token: string,
    expected: { typ: string; audience: string },
  ): Promise<JWTPayload> {
    const jwks = await this.#jwks(tenant, settings);
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      audience: expected.audience,
      typ: expected.typ,
      algorithms: ['RS256', 'ES256'],
      requiredClaims: ['exp', 'iat', 'jti'],
      currentDate: new Date(this.#clock.now()),
    });
    return payload;
  }

  /** Verifies one of this tenant's access tokens (signature, issuer, type, expiry); throws if invalid. */
  async verifyAccessToken(tenant: string, issuer: string, settings: OidcSettings, token: string): Promise<AccessTokenClaims> {
    const jwks = await this.#jwks(tenant, settings);
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      audience: issuer,
      typ: 'at+jwt',
      algorithms: ['RS256', 'ES256'],
      currentDate: new Date(this.#clock.now()),
    });
    for (const claim of ['sub', 'client_id', 'scope', 'gid', 'jti'] as const) {
      if (typeof payload[claim] !== 'string') throw new Error(`access token lacks ${claim}`);
    }
    return payload as AccessTokenClaims;
  }

  /**
   * Verifies an ID token we issued (id_token_hint at authorize and logout): any published key, any
   * audience, expiry tolerated. Our access tokens are signed by the same keys, so `at+jwt` is refused.
   */
  async verifyIdTokenHint(tenant: string, issuer: string, settings: OidcSettings, token: string): Promise<JWTPayload> {
    const jwks = await this.#jwks(tenant, settings);
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, algorithms: ['RS256', 'ES256'], clockTolerance: 365 * 86_400 });
    if (protectedHeader.typ?.toLowerCase().replace(/^application\//, '') === 'at+jwt') throw new Error('an access token is not an ID token');
    return payload;
  }

  async #jwks(tenant: string, settings: OidcSettings) {
    const cached = this.#jwksCache.get(tenant);
    const now = this.#clock.now();
    if (cached && cached.until > now) return cached.set;
    const set = createLocalJWKSet({ keys: (await this.#keys.jwks(tenant, settings)) as never[] });
    this.#jwksCache.set(tenant, { set, until: now + 60_000 });
    return set;
  }
}

/** OIDC Core §3.1.3.6: left half of the SHA-256 of the access token (RS256/ES256 both use SHA-256). */
function atHash(accessToken: string): string {
  return Buffer.from(s256(accessToken), 'base64url').subarray(0, 16).toString('base64url');
}
