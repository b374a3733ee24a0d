import { X509Certificate } from 'node:crypto';
import type { Clock, DirectoryStore, Item } from '../../ports.ts';
import { cardAuthorityKey, cardKeys, slotAttribute, type CardItem } from '../cards/card-item.ts';
import { directoryKeys } from '../directory/keys.ts';
import type { PivSlot } from '../piv/card-port.ts';
import { SLOT_PIN_POLICY } from '../piv/slot-rules.ts';
import type { User, Users } from '../directory/user.ts';
import { ACR } from '../oidc/claims.ts';
import { NO_SECURITY_EVENTS, type SecurityEvents } from '../security-events.ts';
import { children, contextTag, decodeOid, parse, TAG, type DerNode } from './der.ts';
import { canonicalSerial, type CertificateRegistry } from './registry.ts';
import { CrlUnavailableError, type ExternalCrls } from './external-crls.ts';
import type { MappingRule, TrustedCa, TrustedCas } from './trusted-cas.ts';

/** Extended key usages that mean "this key signs a user in" (RFC 5280 clientAuth, Microsoft smart card logon). */
export const LOGIN_EKUS = { clientAuth: '1.3.6.1.5.5.7.3.2', smartcardLogon: '1.3.6.1.4.1.311.20.2.2' } as const;
/**
 * PIV Card Authentication (SP 800-73-4, slot 9E): the key signs without a PIN, so a browser can use it
 * unattended. Accepted from the tenant's own card CA only (its 9E profile), at the lower x509 assurance.
 */
export const PIV_CARD_AUTH_EKU = '2.16.840.1.101.3.6.8';

/** Why a certificate did not sign anyone in: each has its own page, so the user knows what to fix. */
export type CertificateLoginFailure =
  | 'no-certificate'
  | 'unreadable'
  | 'untrusted-ca'
  | 'not-valid-now'
  | 'wrong-usage'
  | 'unknown-certificate'
  | 'revoked'
  | 'revocation-unknown'
  | 'card-deleted'
  | 'card-blocked'
  | 'card-disconnected'
  | 'no-mapping'
  | 'unknown-user'
  | 'user-disabled'
  | 'wrong-user';

export class CertificateLoginError extends Error {
  override readonly name = 'CertificateLoginError';
  readonly reason: CertificateLoginFailure;
  constructor(reason: CertificateLoginFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A certificate that signed a user in: who, how strongly (acr, RFC 8176 amr), and with what. */
export interface CertificateLogin {
  readonly sub: string;
  readonly acr: string;
  readonly amr: readonly string[];
  /** `card`: a card of this tenant's CA; `external`: a certificate of a CA the tenant trusts. */
  readonly source: 'card' | 'external';
  readonly serial: string;
  readonly card?: string;
  readonly slot?: string;
}

type AuthorityItem = Item & { certificatePem: string };
type UserItem = Item & { user: User };

/**
 * Certificate (smart-card) login: the ONE place that decides whether a client certificate from a mutual
 * TLS connection signs a user in, and as whom. TLS (API Gateway's truststore, or the local listener)
 * only proved possession of the key; here the certificate must chain directly to this tenant's card CA
 * or to one of its trusted external CAs, be valid now, be meant for client authentication (key usage
 * digitalSignature when present; EKU clientAuth or smart card logon), and then:
 *  - a card certificate must be in the CA's register and not revoked, its card must exist, its PIN not be
 *    blocked and the card be connected (an active card session: the key signs only through it), and its
 *    UPN name the card's holder;
 *  - an external certificate is mapped by the CA's rule (UPN, e-mail SAN or a subject attribute).
 * The user must exist and be enabled, and be the one the request expects, if it names one.
 */
export class CertificateLogins {
  readonly #directory: DirectoryStore;
  readonly #users: Pick<Users, 'withEmail'>;
  readonly #registry: CertificateRegistry;
  readonly #trusted: TrustedCas;
  readonly #crls: Pick<ExternalCrls, 'isRevoked'>;
  readonly #clock: Clock;
  readonly #events: SecurityEvents;

  constructor(deps: {
    directory: DirectoryStore;
    users: Pick<Users, 'withEmail'>;
    registry: CertificateRegistry;
    trustedCas: TrustedCas;
    crls: Pick<ExternalCrls, 'isRevoked'>;
    clock: Clock;
    events?: SecurityEvents;
  }) {
    this.#directory = deps.directory;
    this.#users = deps.users;
    this.#registry = deps.registry;
    this.#trusted = deps.trustedCas;
    this.#crls = deps.crls;
    this.#clock = deps.clock;
    this.#events = deps.events ?? NO_SECURITY_EVENTS;
  }

  /**
   * Who the certificate signs in, or a CertificateLoginError saying why not. Each outcome is a security
   * event like a password sign-in's: `sign-in-success` / `sign-in-failure`, reason `certificate` or
   * `certificate:{failure}` (revoked, revocation-unknown...); `ip` is the client's address.
   */
  async authenticate(tenant: string, pem: string | undefined, expected: { sub?: string } = {}, ip?: string): Promise<CertificateLogin> {
    const who = { tenant, ...(ip ? { ip } : {}) };
    try {
      const login = await this.#decide(tenant, pem, expected);
      this.#events.emit({ kind: 'sign-in-success', ...who, username: login.sub, ...(login.card ? { card: login.card } : {}), reason: 'certificate' });
      return login;
    } catch (error) {
      if (error instanceof CertificateLoginError) this.#events.emit({ kind: 'sign-in-failure', ...who, reason: `certificate:${error.reason}` });
      throw error;
    }
  }

  async #decide(tenant: string, pem: string | undefined, expected: { sub?: string }): Promise<CertificateLogin> {
    if (!pem) throw new CertificateLoginError('no-certificate', 'the browser presented no certificate');
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      throw new CertificateLoginError('unreadable', 'the certificate presented is not a readable X.509 certificate');
    }
    const issuer = await this.#issuerOf(tenant, certificate);
    const now = this.#clock.now();
    if (Date.parse(certificate.validFrom) > now || Date.parse(certificate.validTo) <= now) {
      throw new CertificateLoginError(
        'not-valid-now',
        `the certificate is valid from ${new Date(certificate.validFrom).toISOString()} to ${new Date(certificate.validTo).toISOString()}`,
      );
    }
    const usage = loginUsage(certificate, { cardAuthentication: issuer.kind === 'card' });
    if (usage !== true) throw new CertificateLoginError('wrong-usage', usage);
    const serial = canonicalSerial(certificate.serialNumber);
    const login =
      issuer.kind === 'card'
        ? await this.#cardLogin(tenant, certificate, serial)
        : await this.#externalLogin(tenant, certificate, serial, issuer.ca, issuer.caCertificate);
    const user = await this.#directory.get<UserItem>(directoryKeys.user(tenant, login.sub));
    if (!user) throw new CertificateLoginError('unknown-user', `no user ${login.sub} exists in this organisation`);
    if (user.user.status !== 'active') throw new CertificateLoginError('user-disabled', `the user ${login.sub} is disabled`);
    if (expected.sub !== undefined && expected.sub !== login.sub) {
      throw new CertificateLoginError('wrong-user', `the certificate belongs to ${login.sub}, but this sign-in is for another user`);
    }
    return login;
  }

  /** The tenant's card CA or a trusted external CA that issued (and signed) the certificate. */
  async #issuerOf(
    tenant: string,
    certificate: X509Certificate,
  ): Promise<{ kind: 'card' } | { kind: 'external'; ca: TrustedCa; caCertificate: X509Certificate }> {
    const authority = await this.#directory.get<AuthorityItem>(cardAuthorityKey(tenant));
    if (authority && issuedBy(certificate, new X509Certificate(authority.certificatePem))) return { kind: 'card' };
    for (const ca of await this.#trusted.list(tenant)) {
      const caCertificate = new X509Certificate(ca.pem);
      if (issuedBy(certificate, caCertificate)) return { kind: 'external', ca, caCertificate };
    }
    throw new CertificateLoginError(
      'untrusted-ca',
      `the certificate was issued by "${oneLine(certificate.issuer)}", which this organisation does not trust for sign-in`,
    );
  }

  async #cardLogin(tenant: string, certificate: X509Certificate, serial: string): Promise<CertificateLogin> {
    const record = await this.#registry.get(tenant, serial);
    if (!record) throw new CertificateLoginError('unknown-certificate', `the card CA has no record of certificate ${serial}`);
    if (record.status === 'revoked') throw new CertificateLoginError('revoked', `certificate ${serial} was revoked (${record.reason ?? 'unspecified'})`);
    const card = await this.#directory.get<CardItem>(cardKeys.card(tenant, record.card));
    if (!card) throw new CertificateLoginError('card-deleted', `the card ${record.card} of this certificate was deleted`);
    if (card.pinRemaining <= 0) throw new CertificateLoginError('card-blocked', `the PIN of card ${card.id} is blocked`);
    if (!card.activeSession) throw new CertificateLoginError('card-disconnected', `the card ${card.id} is not connected (no active card session)`);
    const upn = subjectAltNames(certificate).upn;
    if (!upn.includes(`${card.username}@${tenant}`))
      throw new CertificateLoginError('unknown-certificate', `the certificate does not name the holder of card ${card.id}`);
    // The key of a PIN-protected slot signs only after VERIFY in the card session, so the handshake proved the PIN.
    const slotName = record.slot as PivSlot;
    const pin = (card[slotAttribute(slotName)]?.pinPolicy ?? SLOT_PIN_POLICY[slotName]) !== 'never';
    const keyKind = card.custody === 'kms-resident' ? 'hwk' : 'swk';
    return {
      sub: card.username,
      acr: pin ? ACR.smartcard : ACR.x509,
      amr: pin ? ['sc', 'pin', keyKind, 'mfa'] : ['sc', keyKind],
      source: 'card',
      serial,
      card: card.id,
      slot: record.slot,
    };
  }

  async #externalLogin(tenant: string, certificate: X509Certificate, serial: string, ca: TrustedCa, caCertificate: X509Certificate): Promise<CertificateLogin> {
    if (!ca.mapping) throw new CertificateLoginError('no-mapping', 'the CA that issued this certificate has no mapping rule to a user in this organisation');
    if (ca.crl) await this.#checkCrl(ca.crl.url, caCertificate, serial);
    const sub = await this.#mapped(tenant, certificate, ca.mapping);
    const smartcard = (certificate.keyUsage ?? []).includes(LOGIN_EKUS.smartcardLogon);
    // The PIN cannot be known from an external certificate.
    return { sub, acr: ACR.x509, amr: smartcard ? ['sc', 'pop'] : ['pop'], source: 'external', serial };
  }

  /** The CA's CRL, when the tenant gave one: a listed serial is revoked; no usable CRL refuses the sign-in (fail closed). */
  async #checkCrl(url: string, ca: X509Certificate, serial: string): Promise<void> {
    let revoked: boolean;
    try {
      revoked = await this.#crls.isRevoked(url, ca, serial);
    } catch (error) {
      if (!(error instanceof CrlUnavailableError)) throw error;
      throw new CertificateLoginError('revocation-unknown', `the revocation status of certificate ${serial} cannot be checked: ${error.message}`);
    }
    if (revoked) throw new CertificateLoginError('revoked', `certificate ${serial} is on the CRL of "${oneLine(ca.subject)}"`);
  }

  async #mapped(tenant: string, certificate: X509Certificate, rule: MappingRule): Promise<string> {
    if (rule.source === 'subject') {
      const value = subjectAttribute(certificate, rule.attribute ?? 'CN');
      if (!value) throw new CertificateLoginError('no-mapping', `the certificate's subject has no ${rule.attribute ?? 'CN'}`);
      return value.toLowerCase();
    }
    const names = subjectAltNames(certificate)[rule.source];
    const suffix = `@${rule.domain.toLowerCase()}`;
    const value = names.map((n) => n.toLowerCase()).find((n) => n.endsWith(suffix));
    if (!value) throw new CertificateLoginError('no-mapping', `the certificate has no ${rule.source === 'upn' ? 'UPN' : 'e-mail'} name in ${rule.domain}`);
    if (rule.source === 'upn') return value.slice(0, -suffix.length);
    // E-mail: the user whose directory e-mail address it is (GSI1 `T#{tenant}#EMAIL`).
    const users = await this.#users.withEmail(tenant, value);
    if (users.length !== 1)
      throw new CertificateLoginError(
        users.length ? 'no-mapping' : 'unknown-user',
        users.length ? `the e-mail address ${value} names more than one user` : `no user has the e-mail address ${value}`,
      );
    return users[0]!.username;
  }
}

/** Whether `ca` issued and signed `certificate` (names and signature; no intermediates: API Gateway passes the leaf only). */
function issuedBy(certificate: X509Certificate, ca: X509Certificate): boolean {
  try {
    return certificate.checkIssued(ca) && certificate.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** True, or why the certificate is not for signing a user in (`cardAuthentication`: the PIV card-authentication EKU counts too). */
export function loginUsage(certificate: X509Certificate, options: { cardAuthentication?: boolean } = {}): true | string {
  const keyUsage = keyUsageBits(certificate);
  if (keyUsage !== undefined && !(keyUsage & 0x80)) return 'the certificate key usage does not allow digital signatures (digitalSignature)';
  const ekus = certificate.keyUsage ?? [];
  if (!ekus.includes(LOGIN_EKUS.clientAuth) && !ekus.includes(LOGIN_EKUS.smartcardLogon) && !(options.cardAuthentication && ekus.includes(PIV_CARD_AUTH_EKU))) {
    return 'the certificate is not for client authentication (its extended key usage has neither clientAuth nor smart card logon)';
  }
  return true;
}

/** The first octet of the keyUsage BIT STRING (digitalSignature is 0x80), or undefined without the extension. */
function keyUsageBits(certificate: X509Certificate): number | undefined {
  const tbs = children(children(parse(new Uint8Array(certificate.raw)))[0]!);
  const extensions = tbs.find((node) => node.tag === contextTag(3));
  if (!extensions) return undefined;
  for (const extension of children(children(extensions)[0]!)) {
    const parts = children(extension);
    if (decodeOid(parts[0]!) !== '2.5.29.15') continue;
    const value: DerNode = parts[parts.length - 1]!; // extnValue OCTET STRING (critical may sit between)
    const bits = parse(value.value);
    return bits.tag === TAG.bitString && bits.value.length > 1 ? bits.value[1]! : 0;
  }
  return undefined;
}

/** The UPN and e-mail subject alternative names, as Node prints them (`othername:UPN:…`, `email:…`, values with commas quoted). */
export function subjectAltNames(certificate: X509Certificate): { upn: string[]; email: string[] } {
  const out = { upn: [] as string[], email: [] as string[] };
  const text = certificate.subjectAltName ?? '';
  for (const match of text.matchAll(/(?:^|, )(othername:UPN:|email:)("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const raw = match[2]!;
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    (match[1] === 'email:' ? out.email : out.upn).push(value);
  }
  return out;
}

function subjectAttribute(certificate: X509Certificate, attribute: string): string | undefined {
  for (const line of certificate.subject.split('\n')) {
    const eq = line.indexOf('=');
    if (line.slice(0, eq) === attribute) return line.slice(eq + 1);
  }
  return undefined;
}

const oneLine = (name: string): string => name.replace(/\n/g, ', ');
