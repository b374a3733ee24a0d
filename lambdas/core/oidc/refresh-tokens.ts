import { ConflictError } from '../errors.ts';
import type { Item, StateStore } from '../../ports.ts';
import type { RiskRecord } from '../risk/context.ts';
import { grantKey } from './grants.ts';
import { newOpaque, opaqueHash } from './hashing.ts';

/** What a refresh token stands for; each rotation issues a new token in the same family (grant). */
export interface RefreshGrant {
  readonly tenant: string;
  readonly clientId: string;
  readonly gid: string;
  readonly sub: string;
  /** The family's scope: every token of the family carries it unchanged (RFC 6749 §6). */
  readonly scope: string;
  readonly sid: string;
  readonly authTime: number;
  readonly acr: string;
  readonly amr: readonly string[];
  /** DPoP key thumbprint the token is bound to (always, for public clients that used DPoP). */
  readonly jkt?: string;
  /** Absolute end of the family: rotation never extends it. */
  readonly familyExpiresAt: number;
}

/** What a new family needs beyond its grant (tenant, client, subject, scope are the grant's). */
export type FamilyStart = Omit<RefreshGrant, 'tenant' | 'clientId' | 'gid' | 'sub' | 'scope' | 'familyExpiresAt'>;

/**
 * The family lives on its grant item (`GRANT#{gid}`), so rotation, reuse detection and revocation are
 * all one item: `rtHash` is the hash of the one current token, `rtPrevious` the hash of the token it
 * replaced, `rtBinding` the DPoP key thumbprint the family is bound to or `none`. Revoking the grant
 * (reuse, code replay, RFC 7009, disabling the user or tenant) stops the family by the same flag.
 */
type FamilyItem = Item & {
  tenant: string;
  clientId: string;
  gid: string;
  sub: string;
  scope: string;
  revoked: boolean;
  expiresAt: number;
  rtHash?: string;
  rtPrevious?: string;
  rtBinding?: string;
  sid: string;
  authTime: number;
  acr: string;
  amr: string[];
  /** The family's risk record (core/access/risk-records.ts writes it on this same item). */
  risk?: RiskRecord;
};

const UNBOUND = 'none';

/**
 * `rt_{gid}.{256 random bits}.{subject hint}`: the token names its family, so rotation needs no lookup by
 * hash, and its user (base64url of the family's `sub`), so the access check's reads of the user can run
 * beside the rotation instead of after it. The hint is outside the stored hash (of `rt_{gid}.{secret}`)
 * and proves nothing: it is used only when the rotated family's subject equals it. It tells the holder
 * nothing new: subjects are public (`subject_types_supported: ['public']`), the same `sub` is in every ID
 * and access token of the family (a pairwise subject type would have to seal it). Tokens issued before
 * the hint (no third part) still rotate, on the slower path, into hinted ones.
 */
const TOKEN = /^(rt_([A-Za-z0-9_-]{16,64})\.[A-Za-z0-9_-]{43})(?:\.([A-Za-z0-9_-]{1,512}))?$/;
const parse = (token: string): { secret: string; gid: string; hint?: string } | undefined => {
  const match = TOKEN.exec(token);
  return match ? { secret: match[1]!, gid: match[2]!, ...(match[3] ? { hint: match[3] } : {}) } : undefined;
};
const newSecret = (gid: string): string => newOpaque(`rt_${gid}.`);
const withHint = (secret: string, sub: string): string => `${secret}.${Buffer.from(sub, 'utf8').toString('base64url')}`;

/** The user a refresh token says its family is for (unverified: compare with the family once rotated). */
export function refreshTokenSubject(token: string): string | undefined {
  const hint = parse(token)?.hint;
  return hint === undefined ? undefined : Buffer.from(hint, 'base64url').toString('utf8');
}

export type Rotation =
  /**
   * `token` is the family's new current token; `grant` the family as it is now, and `risk` its risk
   * record as the rotation found it (the same item): the access check needs no second read of it.
   */
  | { outcome: 'rotated'; grant: RefreshGrant; token: string; risk: RiskRecord | undefined }
  | { outcome: 'reused'; grant: RefreshGrant }
  /** The family's grant was revoked (reuse, code replay, RFC 7009, user or tenant disabled). */
  | { outcome: 'revoked' }
  /** Presented by another client or tenant than it was issued to: refused, and nothing changes. */
  | { outcome: 'foreign' }
  /** Bound to a DPoP key the presenter did not prove: refused, not consumed (the caller's risk check decides the rest). */
  | { outcome: 'wrong-key'; grant: RefreshGrant }
  | { outcome: 'unknown' };

/** Who presents a refresh token: the authenticated client, in this tenant, with this DPoP key if any. */
export interface Presenter {
  readonly tenant: string;
  readonly clientId: string;
  readonly jkt?: string;
  /** A public client (no credentials): only DPoP binding and the token itself prove who presents. */
  readonly publicClient: boolean;
}

export class RefreshTokens {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
  }

  /** The first token of a new family and the attributes the family's grant item is created with. */
  open(gid: string, sub: string, start: FamilyStart): { token: string; attributes: Record<string, unknown> } {
    const secret = newSecret(gid);
    const { jkt, ...details } = start;
    return { token: withHint(secret, sub), attributes: { ...details, rtHash: opaqueHash(secret), rtBinding: jkt ?? UNBOUND } };
  }

  /**
   * Rotates in place with ONE conditional update of the family item: it succeeds only if the presented
   * token is the current one, the grant is not revoked, and the presenter is the family's client (and
   * holds its DPoP key). Of concurrent uses exactly one rotates. When the guard fails, the item as it stood
   * (ALL_OLD) tells why, with no change made: unknown, foreign, wrong key, revoked, or reuse. Reuse is a
   * token of this family that is no longer current: the one just replaced (`rtPrevious`), or any token
   * naming the family presented by a party that proved to be the family's holder (a confidential
   * client's credentials, or the bound DPoP key). From a public client of an unbound family, an older
   * token cannot be told from a forged one naming the family (the family id is in access tokens as `gid`),
   * so it is refused as unknown and revokes nothing.
   */
  async rotate(token: string, presenter: Presenter): Promise<Rotation> {
    const parsed = parse(token);
    if (!parsed) return { outcome: 'unknown' };
    const { gid } = parsed;
    const presented = opaqueHash(parsed.secret);
    // The binding is a guess on the first try (a public client's proof key, else none); ALL_OLD corrects it.
    let binding = presenter.publicClient && presenter.jkt ? presenter.jkt : UNBOUND;
    for (let attempt = 0; attempt < 2; attempt++) {
      const next = newSecret(gid);
      try {
        const item = await this.#state.update<FamilyItem>(
          grantKey(gid),
          { rtHash: opaqueHash(next), rtPrevious: presented },
          {
            present: true,
            equals: { rtHash: presented, revoked: false, tenant: presenter.tenant, clientId: presenter.clientId, rtBinding: binding },
            reportCurrent: true,
          },
        );
        return { outcome: 'rotated', grant: refreshGrantOf(item), token: withHint(next, item.sub), risk: item.risk };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        const why = this.#whyRefused(error.current as FamilyItem | undefined, presented, presenter);
        if (why.outcome !== 'retry' || why.binding === binding) return why.outcome === 'retry' ? { outcome: 'unknown' } : why;
        binding = why.binding;
      }
    }
    return { outcome: 'unknown' };
  }

  #whyRefused(item: FamilyItem | undefined, presented: string, presenter: Presenter): Rotation | { outcome: 'retry'; binding: string } {
    if (!item?.rtHash) return { outcome: 'unknown' };
    if (item.tenant !== presenter.tenant || item.clientId !== presenter.clientId) return { outcome: 'foreign' };
    const binding = item.rtBinding ?? UNBOUND;
    if (binding !== UNBOUND && binding !== presenter.jkt) return { outcome: 'wrong-key', grant: refreshGrantOf(item) };
    if (item.revoked) return { outcome: 'revoked' };
    if (item.rtHash === presented) return { outcome: 'retry', binding };
    const provenHolder = !presenter.publicClient || binding !== UNBOUND;
    if (item.rtPrevious === presented || provenHolder) return { outcome: 'reused', grant: refreshGrantOf(item) };
    return { outcome: 'unknown' };
  }

  /** The family of a token and whether the token is its current one (introspection, revocation). */
  async find(token: string): Promise<(RefreshGrant & { status: 'active' | 'rotated' | 'revoked' }) | undefined> {
    const parsed = parse(token);
    const item = parsed ? await this.#state.get<FamilyItem>(grantKey(parsed.gid)) : undefined;
    if (!parsed || !item?.rtHash) return undefined;
    const presented = opaqueHash(parsed.secret);
    if (item.rtHash !== presented && item.rtPrevious !== presented) return undefined;
    return { ...refreshGrantOf(item), status: item.revoked ? 'revoked' : item.rtHash === presented ? 'active' : 'rotated' };
  }

  /**
   * RFC 7009 revocation of one token: the caller revokes its family through the grant, which is the same
   * item, so there is nothing more to do here than to know the family.
   */
  async revoke(token: string): Promise<RefreshGrant | undefined> {
    return this.find(token);
  }
}

function refreshGrantOf(item: FamilyItem): RefreshGrant {
  const binding = item.rtBinding ?? UNBOUND;
  return {
    tenant: item.tenant,
    clientId: item.clientId,
    gid: item.gid,
    sub: item.sub,
    scope: item.scope,
    sid: item.sid,
    authTime: item.authTime,
    acr: item.acr,
    amr: item.amr,
    ...(binding !== UNBOUND ? { jkt: binding } : {}),
    familyExpiresAt: item.expiresAt,
  };
}
