import type { Element } from '@xmldom/xmldom';
import { child, children, NS, SamlError, textOf } from './xml.ts';

/** The authentication context classes we know (SAML Authn Context §3.4), and how strong each is. */
export const AUTHN_CLASS = {
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  totp: 'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
  x509: 'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
  smartcard: 'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard',
  smartcardPki: 'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI',
} as const;

/**
 * Order of strength: password < password + one-time code < a certificate (X509, or a smart card without
 * its PIN) < a smart card whose key needs the PIN (SmartcardPKI).
 */
const STRENGTH: Readonly<Record<string, number>> = {
  [AUTHN_CLASS.password]: 1,
  [AUTHN_CLASS.totp]: 2,
  [AUTHN_CLASS.x509]: 3,
  [AUTHN_CLASS.smartcard]: 3,
  [AUTHN_CLASS.smartcardPki]: 4,
};

/**
 * A way the portal signs users in, with the class an AuthnStatement names for it: `x509` a certificate of
 * an external CA, `smartcard` a card certificate whose key needs no PIN, `smartcardPki` a card
 * certificate whose key signs only after the PIN (the 9A slot).
 */
export type LoginMethod = 'password' | 'totp' | 'x509' | 'smartcard' | 'smartcardPki';
export const METHOD_CLASS: Readonly<Record<LoginMethod, string>> = {
  password: AUTHN_CLASS.password,
  totp: AUTHN_CLASS.totp,
  x509: AUTHN_CLASS.x509,
  smartcard: AUTHN_CLASS.smartcard,
  smartcardPki: AUTHN_CLASS.smartcardPki,
};
/**
 * Every class a login by the method can truthfully be stated as: a one-time-code login began with the
 * password over TLS, so it also attests PasswordProtectedTransport; a smart-card login is an X.509 login,
 * and one with the PIN is also a smart-card login.
 */
const METHOD_CLASSES: Readonly<Record<LoginMethod, readonly string[]>> = {
  password: [AUTHN_CLASS.password],
  totp: [AUTHN_CLASS.totp, AUTHN_CLASS.password],
  x509: [AUTHN_CLASS.x509],
  smartcard: [AUTHN_CLASS.smartcard, AUTHN_CLASS.x509],
  smartcardPki: [AUTHN_CLASS.smartcardPki, AUTHN_CLASS.smartcard, AUTHN_CLASS.x509],
};
/** What the portal can do, by burden: password, one-time code, then certificate login (the mutual-TLS origin). */
export const PORTAL_METHODS: readonly LoginMethod[] = ['password', 'totp', 'x509', 'smartcard', 'smartcardPki'];
/** What the portal can do without a mutual-TLS origin. */
export const PASSWORD_METHODS: readonly LoginMethod[] = ['password', 'totp'];
/** The methods that are a certificate login. */
export const CERTIFICATE_METHODS: readonly LoginMethod[] = ['x509', 'smartcard', 'smartcardPki'];

export const COMPARISONS = ['exact', 'minimum', 'better', 'maximum'] as const;
export type Comparison = (typeof COMPARISONS)[number];

export interface RequestedAuthnContext {
  readonly comparison: Comparison;
  readonly classRefs: readonly string[];
}

/**
 * Reads `samlp:RequestedAuthnContext` (Core §3.3.2.2.1) from an AuthnRequest: Comparison (default exact)
 * and the AuthnContextClassRef list. Declaration references cannot be mapped to a method: refused.
 */
export function parseRequestedAuthnContext(request: Element): RequestedAuthnContext | undefined {
  const element = child(request, NS.protocol, 'RequestedAuthnContext');
  if (!element) return undefined;
  const comparison = element.getAttribute('Comparison') || 'exact';
  if (!(COMPARISONS as readonly string[]).includes(comparison))
    throw new SamlError(`RequestedAuthnContext Comparison "${comparison}" is not exact, minimum, better or maximum`);
  if (children(element, NS.assertion, 'AuthnContextDeclRef').length) {
    throw new SamlError('authentication context declarations are not supported', 'urn:oasis:names:tc:SAML:2.0:status:Requester');
  }
  const classRefs = children(element, NS.assertion, 'AuthnContextClassRef').map(textOf);
  if (!classRefs.length || classRefs.length > 16) throw new SamlError('RequestedAuthnContext must list between 1 and 16 AuthnContextClassRef');
  return { comparison: comparison as Comparison, classRefs };
}

/**
 * Whether a statement of this class satisfies the request (Core §3.3.2.2.1). Classes we cannot rank are
 * ignored; "better" means stronger than every listed class, so it is never read as a weaker login.
 */
function classSatisfies(statedClass: string, requested: RequestedAuthnContext): boolean {
  const strength = STRENGTH[statedClass]!;
  const known = requested.classRefs.filter((ref) => STRENGTH[ref] !== undefined).map((ref) => STRENGTH[ref]!);
  switch (requested.comparison) {
    case 'exact':
      return requested.classRefs.includes(statedClass);
    case 'minimum':
      return known.some((level) => strength >= level);
    case 'better':
      return known.length > 0 && known.every((level) => strength > level);
    case 'maximum':
      return known.some((level) => strength <= level);
  }
}

/**
 * The class the AuthnStatement names for a login by `method` under the request: the strongest class the
 * login attests that satisfies the request, or undefined when none does. Without a request, the method's own.
 */
export function statedClass(method: LoginMethod, requested: RequestedAuthnContext | undefined): string | undefined {
  if (!requested) return METHOD_CLASS[method];
  return METHOD_CLASSES[method].find((candidate) => classSatisfies(candidate, requested));
}

/** Whether a login by `method` satisfies the request. */
export const satisfies = (method: LoginMethod, requested: RequestedAuthnContext | undefined): boolean => statedClass(method, requested) !== undefined;

/** The portal method a fresh login should use: the least burden that satisfies, the strongest under "maximum". */
export function methodFor(requested: RequestedAuthnContext | undefined, available: readonly LoginMethod[] = PORTAL_METHODS): LoginMethod | undefined {
  const fitting = available.filter((method) => satisfies(method, requested));
  if (requested?.comparison !== 'maximum') return fitting[0];
  // The strongest statement allowed; of methods that would state the same class, the lesser burden.
  const strength = (method: LoginMethod) => STRENGTH[statedClass(method, requested)!]!;
  return fitting.reduce<LoginMethod | undefined>((best, method) => (best === undefined || strength(method) > strength(best) ? method : best), undefined);
}

/** How the portal signed a session in, from its amr (RFC 8176: sc smart card, pin, pop proof of possession). */
export function methodOf(amr: readonly string[]): LoginMethod {
  if (amr.includes('sc')) return amr.includes('pin') ? 'smartcardPki' : 'smartcard';
  if (amr.includes('pop')) return 'x509';
  return amr.includes('otp') ? 'totp' : 'password';
}

export type SsoDecision =
  | { readonly kind: 'session' }
  | { readonly kind: 'login'; readonly secondFactor: boolean; readonly certificate: boolean }
  | { readonly kind: 'no-authn-context' }
  | { readonly kind: 'no-passive' };

/**
 * What to do with a validated AuthnRequest: answer from the SSO session when it satisfies the request
 * (and ForceAuthn is not set), else sign in (stepping up to the one-time code when that is needed),
 * or with a certificate when only that satisfies), unless the request is passive; a request no portal
 * method can satisfy gets NoAuthnContext.
 */
export function decideSso(input: {
  requested?: RequestedAuthnContext;
  forceAuthn: boolean;
  isPassive: boolean;
  session?: { amr: readonly string[] };
  methods?: readonly LoginMethod[];
}): SsoDecision {
  const method = methodFor(input.requested, input.methods);
  if (!method) return { kind: 'no-authn-context' };
  if (input.session && !input.forceAuthn && satisfies(methodOf(input.session.amr), input.requested)) return { kind: 'session' };
  if (input.isPassive) return { kind: 'no-passive' };
  return { kind: 'login', secondFactor: method === 'totp', certificate: CERTIFICATE_METHODS.includes(method) };
}
