import type { ContextName } from '../lambdas/contexts.ts';
import type { ResidentKeyPurpose } from '../lambdas/ports.ts';

/**
 * What each function may touch: the one place least privilege is decided. The stack applies it with the
 * constructs' grant* methods and test/infra checks the synthesized policies against it.
 */
/**
 * Item access in one table, by partition-key pattern (`dynamodb:LeadingKeys`, `ForAllValues:StringLike`:
 * `*` matches any run of characters). `read` = GetItem and Query (on the table and, the same patterns
 * applying to the index's own partition key, on its GSIs), `write` = PutItem, UpdateItem, DeleteItem.
 * Nothing else: no Scan, no batch operations, no DescribeTable. Every write pattern is also a read pattern
 * (a conditional write may return the item).
 */
export interface TableAccess {
  readonly read: readonly string[];
  readonly write: readonly string[];
}
export type KekCapability = 'wrap' | 'unwrap' | 'describe';
export type SigningCapability = 'sign' | 'getPublicKey' | 'describe';
/**
 * Resident keys (KMS asymmetric keys made at run time: KMS-resident card keys, each tenant's card CA key
 * and card-list key), granted per `cloudcard:purpose` tag value, always on keys tagged with the stack's
 * `cloudcard:stack` value:
 * create = kms:CreateKey + kms:TagResource carrying exactly the stack's tags and one of these purposes;
 * sign = kms:Sign, agree = kms:DeriveSharedSecret, destroy = kms:ScheduleKeyDeletion, each only on keys
 * whose purpose tag is listed; kms:GetPublicKey on keys of any purpose the function creates or uses.
 * So the card function cannot sign with a tenant CA key (a slot pointed at it signs nothing) and only
 * the admin function issues certificates.
 */
export interface ResidentKeyGrant {
  readonly create: readonly ResidentKeyPurpose[];
  readonly sign: readonly ResidentKeyPurpose[];
  readonly agree: readonly ResidentKeyPurpose[];
  readonly destroy: readonly ResidentKeyPurpose[];
}

/**
 * The stack's HMAC_256 keys (kms:GenerateMac and kms:VerifyMac, HMAC_SHA_256 only): `cardSession` seals
 * card-session security state (only the card function may, so nothing else can write "PIN verified"),
 * `cardPin` MACs the PIN and PUK hashes (the card function checks them with VerifyMac and changes them,
 * the admin function sets them).
 */
export type MacKeyName = 'cardSession' | 'cardPin';

/** Use of the card key-encryption key. */
export interface KekGrant {
  /** wrap = kms:Encrypt, unwrap = kms:Decrypt (both bound to exactly {tenant, card, slot}), describe = kms:DescribeKey. */
  readonly capabilities: readonly KekCapability[];
  /**
   * When set, wrap and unwrap are allowed only with this value as the `card` member of the encryption
   * context (a key-policy StringEquals on kms:EncryptionContext:card): the function can open its own kind
   * of secret and no card's private key.
   */
  readonly contextCard?: string;
  /**
   * `card` values this function may never wrap or unwrap under (a key-policy StringNotEquals): the card
   * service handles card keys, and must not be able to open token-signing keys or TOTP secrets.
   */
  readonly excludedContextCards?: readonly string[];
}

export interface FunctionGrants {
  /** Directory items by partition: see DIRECTORY_PARTITIONS. */
  readonly directory: TableAccess;
  /** State items by kind: see STATE_PARTITIONS. */
  readonly state: TableAccess;
  readonly cardKek: KekGrant;
  /** Token/assertion signing key: sign = kms:Sign (RS256/PS256 only), getPublicKey = kms:GetPublicKey, describe = kms:DescribeKey. */
  readonly signingKey: readonly SigningCapability[];
  /** Keys made at run time cannot be named in a key policy: these are IAM grants conditioned on tags. */
  readonly residentKeys: ResidentKeyGrant;
  /** The HMAC keys the function may derive subkeys from and MAC with (kms:GenerateMac; key-policy statements naming its role). */
  readonly macKeys: readonly MacKeyName[];
  /** The HMAC keys the function may check MACs with in KMS (kms:VerifyMac): the card function's PIN checks. */
  readonly macVerifyKeys: readonly MacKeyName[];
  /**
   * The function this one hands relying-party logouts to (lambda:InvokeFunction on it, and its name in
   * LOGOUT_RELAY_FUNCTION): functions that end sessions but hold no token-signing key.
   */
  readonly logoutRelay?: ContextName;
}

const NO_RESIDENT_KEYS: ResidentKeyGrant = { create: [], sign: [], agree: [], destroy: [] };

/** Whether a grant gives any resident-key permission at all. */
export const grantsResidentKeys = (grant: ResidentKeyGrant): boolean => Object.values(grant).some((purposes) => purposes.length > 0);

/** The `card` values of the KEK encryption contexts that are not cards (lambdas/core: oidc/keys.ts, portal/totp.ts). */
export const OIDC_SIGNING_CONTEXT_CARD = 'oidc-signing';
export const TOTP_CONTEXT_CARD = 'totp';

/**
 * Directory partitions (the leading key of the table, and of GSI1/GSI2, whose partition keys follow the
 * same prefixes). Tenant ids are lower-case letters, digits and hyphens, so no pattern reaches another's
 * items. Cards and their CA live under a partition of their own so that only card and admin reach them.
 */
export const DIRECTORY_PARTITIONS = {
  /** Tenant, users (GSI1 `T#{t}#EMAIL`), OIDC clients, consents, token signing keys, SAML SPs (GSI1 `T#{t}#SPSHA1`), SAML certificates, federated identities (GSI1 `T#{t}#NAMEID#…`). */
  tenant: 'T#*',
  /** The tenant listing (GSI2). */
  tenantListing: 'TENANTS',
  /**
   * Cards (`PK=CARDS#{t}`, `SK=CARD#{card}`), the tenant card CA (`SK=CARDCA`), a user's cards (GSI1
   * `CARDS#{t}#USER#{u}`), the certificates the CA issued (`SK=CERT#{serial}`; revoked ones in GSI1
   * `CARDS#{t}#REVOKED`).
   */
  cards: 'CARDS#*',
  /** Each tenant CA's published CRL (`PK=CRL#{t}`: the head and its parts), written by admin and pki. */
  crl: 'CRL#*',
  /** The embedded stack's resident-key stand-ins (in AWS these are KMS keys, never items). */
  residentKeys: 'RESIDENTKEY#*',
  /** Admin clients. */
  platform: 'PLATFORM',
  /** The /health probe's read. */
  health: 'health',
} as const;

/** State partitions, one kind each (`PK={KIND}#{id}`; GSI1 `SSO#{session}` groups a session's SAML participants). */
export const STATE_PARTITIONS = {
  interaction: 'INTERACTION#*',
  sso: 'SSO#*',
  code: 'CODE#*',
  grant: 'GRANT#*',
  revokedAccessToken: 'REVOKEDAT#*',
  deviceCode: 'DEVICE#*',
  userCode: 'USERCODE#*',
  jti: 'JTI#*',
  dpopNonce: 'DPOPNONCE#*',
  loginFailures: 'LOGINFAIL#*',
  samlArtifact: 'SAMLART#*',
  samlParticipant: 'SAMLSI#*',
  samlLogout: 'SAMLLOGOUT#*',
  cardChallenge: 'CARDCHAL#*',
  cardSession: 'CARDSESS#*',
  /** The agent's device records (device key, OS, hostname hash, agent version); listed on the owner index. */
  agentDevice: 'AGENTDEV#*',
  /** Initial access tokens for dynamic registration (RFC 7591 §3); the operator's CLI makes and lists them. */
  initialAccessToken: 'IAT#*',
  /** Pushed authorization requests (RFC 9126), single use, 60 s. */
  pushedRequest: 'PAR#*',
  /** Browser-SSO transfers from a device's PRT: made by oidc (`/oidc/sso-transfer`), redeemed once by portal (`/portal/sso`), 60 s. */
  ssoTransfer: 'SSOXFER#*',
  /** The audit trail of administrative changes (`PK=AUDIT#{t}`, newest first, 400-day TTL). */
  audit: 'AUDIT#*',
  /** The owner index (GSI1 `SUBJECT#{t}#{user}`): a user's SSO sessions, grants and card sessions, found for revocation. */
  subject: 'SUBJECT#*',
  /** Shared Signals (CAEP) levels and device compliance received from transmitters (`PK=SSF#{t}`), written by oidc. */
  ssfSignal: 'SSF#*',
  health: 'health',
} as const;

const D = DIRECTORY_PARTITIONS;
const S = STATE_PARTITIONS;
/** Read and write the same partitions. */
const readWrite = (...patterns: string[]): TableAccess => ({ read: patterns, write: patterns });
/** Adds read-only partitions to an access. */
const plusRead = (access: TableAccess, ...patterns: string[]): TableAccess => ({ read: [...access.read, ...patterns], write: access.write });

export const GRANTS: Readonly<Record<ContextName, FunctionGrants>> = {
  // Per-tenant token signing keys are wrapped under the KEK ({tenant, card: 'oidc-signing', slot: kid});
  // tenants in `kms` signing mode sign with the stack's signing key, whose public half the JWKS publishes.
  // Clients (registration), consents, lazily made signing keys; the whole token life cycle in state, and
  // the login throttle for the password grant. No card, no card session, no SAML state. The owner index
  // read only: a risk denial at the refresh grant finds the family's SSO session by its public sid; a
  // Shared Signals session-revoked finds the user's grants and SSO sessions through it. Received CAEP levels.
  // Agent device records read only: a PRT refresh checks its key is a registered device (`unknown-device`).
  oidc: {
    directory: readWrite(D.tenant),
    state: plusRead(
      readWrite(
        S.interaction,
        S.sso,
        S.code,
        S.grant,
        S.revokedAccessToken,
        S.deviceCode,
        S.userCode,
        S.jti,
        S.dpopNonce,
        S.loginFailures,
        S.initialAccessToken,
        S.pushedRequest,
        S.ssfSignal,
        S.ssoTransfer,
      ),
      S.subject,
      S.agentDevice,
    ),
    cardKek: { capabilities: ['wrap', 'unwrap'], contextCard: OIDC_SIGNING_CONTEXT_CARD },
    signingKey: ['sign', 'getPublicKey'],
    residentKeys: NO_RESIDENT_KEYS,
    macKeys: [],
    macVerifyKeys: [],
  },
  // SAML signs with the tenant's token keys (the same wrapped key ring as oidc): it only opens them.
  // Federated identities, IdP certificates, lazily made signing keys; interactions and SSO sessions (it
  // resumes and ends them), message-ID replay, artifacts, participants and logout steps. The login
  // throttle read only: recent failed sign-ins are a risk signal at SSO reuse. The owner index and the
  // received CAEP levels read only: SSO reuse re-checks the session's device correlation (the card's
  // sessions) and scores the levels a transmitter reported; a session a risk denial ends names the OIDC
  // clients to log out through its grants' `sid`.
  saml: {
    directory: readWrite(D.tenant),
    state: plusRead(readWrite(S.interaction, S.sso, S.jti, S.samlArtifact, S.samlParticipant, S.samlLogout), S.loginFailures, S.subject, S.ssfSignal),
    cardKek: { capabilities: ['unwrap'], contextCard: OIDC_SIGNING_CONTEXT_CARD },
    signingKey: ['sign', 'getPublicKey'],
    residentKeys: NO_RESIDENT_KEYS,
    macKeys: [],
    macVerifyKeys: [],
  },
  // TOTP secrets are wrapped under the KEK ({tenant, card: 'totp', slot: username}); the portal opens them
  // at sign-in and wraps a new one when a user enrols on the account page.
  // TOTP enrolment on the user, consents; interactions, SSO sessions, device approval, the login throttle.
  // Certificate login and the account page read the card partition (the CA item, the CERT# register, the
  // user's cards): never write it. The owner index: a sign-in is correlated with a device by the user's
  // card sessions and registered devices; the account page lists the user's sessions and devices, ends a
  // family (grant marked revoked) or SSO session, deletes a device record, and writes the audit trail; it
  // never touches card sessions. The received CAEP levels read only (scored continuations).
  portal: {
    directory: plusRead(readWrite(D.tenant), D.cards),
    state: plusRead(
      readWrite(S.interaction, S.sso, S.deviceCode, S.userCode, S.loginFailures, S.grant, S.agentDevice, S.audit, S.ssoTransfer),
      S.subject,
      S.ssfSignal,
    ),
    cardKek: { capabilities: ['wrap', 'unwrap'], contextCard: TOTP_CONTEXT_CARD },
    signingKey: [],
    residentKeys: NO_RESIDENT_KEYS,
    macKeys: [],
    macVerifyKeys: [],
    // A device-approval denial or a device signed out on the account page ends sessions: the oidc function tells their RPs.
    logoutRelay: 'oidc',
  },
  // The card service wraps and unwraps card keys; it signs nothing with the stack key. KMS-resident card
  // keys sign and agree keys in KMS, and GENERATE on such a card makes a new key and destroys the old one.
  // It signs card lists, and a card's Security Object when the holder writes an object it hashes, with the
  // tenant's card-list key, never with the CA key. It alone seals session
  // state; it checks and changes PINs. Cards, the card CA and the list signer are read and written in the
  // card partition; tenants, users and public token keys only read (verifying the caller's token), grants
  // and revocations only read, and the login throttle (recent failed sign-ins score a card-session
  // open), and the received CAEP levels (a device reported non-compliant cannot open a card session).
  // Card challenges and sessions are its alone.
  card: {
    directory: plusRead(readWrite(D.cards, D.residentKeys), D.tenant),
    state: plusRead(readWrite(S.cardChallenge, S.cardSession, S.agentDevice), S.grant, S.revokedAccessToken, S.loginFailures, S.ssfSignal),
    cardKek: { capabilities: ['wrap', 'unwrap'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: [],
    residentKeys: { create: ['card-key'], sign: ['card-key', 'card-list'], agree: ['card-key'], destroy: ['card-key'] },
    macKeys: ['cardSession', 'cardPin'],
    macVerifyKeys: ['cardPin'],
  },
  // The health check proves both keys reachable with DescribeKey; enrolment wraps new keys; the JWKS needs
  // the public key. Enrolment makes KMS-resident card keys, the tenant's card CA key and card-list key,
  // signs certificates with the CA key and a new card's CHUID and Security Object with the card-list key
  // (the tenant's PIV content signer); a lost creation race,
  // a failed enrolment and card deletion destroy resident keys. Enrolment and unblock set PIN hashes.
  // Everything in the directory (the tenant listing is a GSI2 partition: read only); in state what
  // verifying an `admin`-scope token needs (grants, revocations, DPoP nonces and proof replay), /health,
  // and revocation: disabling a user or tenant and deleting a card find the user's SSO sessions, grants
  // and card sessions on the owner index and end them (a card session becomes a tombstone; it cannot make
  // one "PIN verified": that state is sealed by a key only the card function holds). Deleting a tenant
  // also deletes its initial access tokens and received Shared Signals. No challenges.
  admin: {
    directory: plusRead(readWrite(D.tenant, D.cards, D.residentKeys, D.platform, D.crl), D.tenantListing, D.health),
    state: plusRead(
      readWrite(S.jti, S.dpopNonce, S.grant, S.sso, S.cardSession, S.audit, S.agentDevice, S.initialAccessToken, S.ssfSignal),
      S.revokedAccessToken,
      S.subject,
      S.health,
    ),
    cardKek: { capabilities: ['wrap', 'describe'], excludedContextCards: [OIDC_SIGNING_CONTEXT_CARD, TOTP_CONTEXT_CARD] },
    signingKey: ['getPublicKey', 'describe'],
    residentKeys: { create: ['card-key', 'card-ca', 'card-list'], sign: ['card-ca', 'card-list'], agree: [], destroy: ['card-key', 'card-ca', 'card-list'] },
    macKeys: ['cardPin'],
    macVerifyKeys: [],
    // It signs no token: relying-party logouts of the sessions it ends are signed and sent by the oidc function.
    logoutRelay: 'oidc',
  },
  // The public PKI endpoints (CA certificate, CRL, OCSP), anonymous: they read the card partition (the CA
  // item and the register of issued and revoked certificates) and sign with the CA key only (OCSP answers,
  // and a fresh CRL when the stored one nears its nextUpdate), which they may publish in the CRL partition.
  // Local stand-ins for resident keys are read only (in AWS the CA key is a KMS key). No state, no KEK,
  // no stack signing key, no MAC key, no other resident-key purpose.
  pki: {
    directory: plusRead(readWrite(D.crl), D.cards, D.residentKeys),
    state: { read: [], write: [] },
    cardKek: { capabilities: [] },
    signingKey: [],
    residentKeys: { create: [], sign: ['card-ca'], agree: [], destroy: [] },
    macKeys: [],
    macVerifyKeys: [],
  },
};

/**
 * What the operator CLI needs against a deployment (`cloudcard --stack …`), granted to the roles named in
 * the `operatorRoleArns` context: everything the admin function may do, plus what only the CLI does —
 * wrapping new token-signing keys (`keys rotate`) and TOTP secrets (`user totp enroll`) under the KEK,
 * lifting sign-in locks (`user unlock`), managing initial access tokens, and publishing the card CA's CRL
 * after a revocation (`ca revoke`, `card revoke`). It never unwraps anything
 * and never signs with the token key: an operator's credentials cannot read a card key or a TOTP secret.
 */
export const OPERATOR_GRANTS: FunctionGrants = {
  directory: plusRead(readWrite(D.tenant, D.cards, D.residentKeys, D.platform, D.crl), D.tenantListing),
  state: plusRead(
    readWrite(S.grant, S.sso, S.cardSession, S.loginFailures, S.initialAccessToken, S.audit, S.agentDevice, S.dpopNonce, S.ssfSignal),
    S.revokedAccessToken,
    S.subject,
  ),
  cardKek: { capabilities: ['wrap', 'describe'] },
  signingKey: ['getPublicKey', 'describe'],
  residentKeys: { create: ['card-key', 'card-ca', 'card-list'], sign: ['card-ca', 'card-list'], agree: [], destroy: ['card-key', 'card-ca', 'card-list'] },
  macKeys: ['cardPin'],
  macVerifyKeys: [],
};
