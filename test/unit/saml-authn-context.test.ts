import { describe, expect, it } from '@jest/globals';
import {
  AUTHN_CLASS,
  decideSso,
  methodFor,
  methodOf,
  parseRequestedAuthnContext,
  PASSWORD_METHODS,
  satisfies,
  statedClass,
  type Comparison,
  type LoginMethod,
} from '../../lambdas/core/saml/authn-context.ts';
import { parseXml, SamlError } from '../../lambdas/core/saml/xml.ts';

const { password: PWD, totp: TOTP, x509: X509, smartcard: CARD, smartcardPki: PKI } = AUTHN_CLASS;
const UNKNOWN = 'urn:example:ac:classes:Retina';
const request = (comparison: Comparison, ...classRefs: string[]) => ({ comparison, classRefs });

describe('RequestedAuthnContext', () => {
  // [comparison, requested classes, does password satisfy, password+TOTP, an external X.509 certificate,
  // a card without PIN (Smartcard), a card with PIN (SmartcardPKI)]
  // (a password + TOTP login also attests PasswordProtectedTransport: the password went over TLS; a card
  // with PIN also attests Smartcard and X509, a card without PIN X509)
  const table: [Comparison, string[], boolean, boolean, boolean, boolean, boolean][] = [
    ['exact', [PWD], true, true, false, false, false],
    ['exact', [TOTP], false, true, false, false, false],
    ['exact', [PWD, TOTP], true, true, false, false, false],
    ['exact', [X509], false, false, true, true, true],
    ['exact', [CARD], false, false, false, true, true],
    ['exact', [PKI], false, false, false, false, true],
    ['exact', [UNKNOWN], false, false, false, false, false],
    ['minimum', [PWD], true, true, true, true, true],
    ['minimum', [TOTP], false, true, true, true, true],
    ['minimum', [TOTP, PWD], true, true, true, true, true],
    ['minimum', [CARD], false, false, true, true, true],
    ['minimum', [PKI], false, false, false, false, true],
    ['minimum', [UNKNOWN], false, false, false, false, false],
    ['better', [PWD], false, true, true, true, true],
    ['better', [TOTP], false, false, true, true, true],
    ['better', [PWD, TOTP], false, false, true, true, true],
    ['better', [X509], false, false, false, false, true],
    ['maximum', [PWD], true, true, false, false, false],
    ['maximum', [TOTP], true, true, false, false, false],
    ['maximum', [CARD], true, true, true, true, true],
    ['maximum', [UNKNOWN], false, false, false, false, false],
  ];
  it.each(table)('%s %j: password %s, TOTP %s, X.509 %s, smart card %s, smart card + PIN %s', (comparison, refs, password, totp, x509, card, cardPin) => {
    const requested = request(comparison, ...refs);
    expect(satisfies('password', requested)).toBe(password);
    expect(satisfies('totp', requested)).toBe(totp);
    expect(satisfies('x509', requested)).toBe(x509);
    expect(satisfies('smartcard', requested)).toBe(card);
    expect(satisfies('smartcardPki', requested)).toBe(cardPin);
  });

  it('reads the login method from the amr (RFC 8176)', () => {
    expect(methodOf(['pwd'])).toBe('password');
    expect(methodOf(['pwd', 'otp', 'mfa'])).toBe('totp');
    expect(methodOf(['pop'])).toBe('x509');
    expect(methodOf(['sc', 'pop'])).toBe('smartcard');
    expect(methodOf(['sc', 'swk'])).toBe('smartcard');
    expect(methodOf(['sc', 'pin', 'hwk', 'mfa'])).toBe('smartcardPki');
  });

  it('states SmartcardPKI for a card login with PIN, and the class asked for when it attests it', () => {
    expect(statedClass('smartcardPki', undefined)).toBe(PKI);
    expect(statedClass('smartcardPki', request('exact', CARD))).toBe(CARD);
    expect(statedClass('smartcardPki', request('exact', X509))).toBe(X509);
    expect(statedClass('smartcardPki', request('minimum', CARD))).toBe(PKI);
    expect(statedClass('x509', request('exact', PKI))).toBeUndefined();
  });

  it('states the strongest class the login attests that the request accepts', () => {
    expect(statedClass('totp', undefined)).toBe(TOTP);
    expect(statedClass('password', undefined)).toBe(PWD);
    expect(statedClass('totp', request('exact', PWD))).toBe(PWD);
    expect(statedClass('totp', request('exact', PWD, TOTP))).toBe(TOTP);
    expect(statedClass('totp', request('minimum', PWD))).toBe(TOTP);
    expect(statedClass('totp', request('maximum', PWD))).toBe(PWD);
    expect(statedClass('totp', request('better', PWD))).toBe(TOTP);
    expect(statedClass('password', request('exact', TOTP))).toBeUndefined();
    expect(statedClass('totp', request('exact', X509))).toBeUndefined();
  });

  it('no request is satisfied by any method', () => {
    for (const method of ['password', 'totp', 'x509', 'smartcard', 'smartcardPki'] as LoginMethod[]) expect(satisfies(method, undefined)).toBe(true);
  });

  it('picks the least burden for a fresh login, the strongest allowed under maximum, a certificate when only that does', () => {
    expect(methodFor(undefined)).toBe('password');
    expect(methodFor(request('minimum', PWD))).toBe('password');
    expect(methodFor(request('minimum', TOTP))).toBe('totp');
    expect(methodFor(request('better', PWD))).toBe('totp');
    expect(methodFor(request('maximum', TOTP))).toBe('totp');
    expect(methodFor(request('maximum', PWD))).toBe('password');
    expect(methodFor(request('exact', X509))).toBe('x509');
    expect(methodFor(request('better', TOTP))).toBe('x509');
    expect(methodFor(request('exact', PKI))).toBe('smartcardPki');
    expect(methodFor(request('maximum', CARD))).toBe('x509');
    // Without a mutual-TLS origin nothing here meets a certificate request.
    expect(methodFor(request('exact', X509), PASSWORD_METHODS)).toBeUndefined();
    expect(methodFor(request('minimum', CARD), PASSWORD_METHODS)).toBeUndefined();
  });

  describe('decideSso', () => {
    const passwordSession = { amr: ['pwd'] };
    const totpSession = { amr: ['pwd', 'otp', 'mfa'] };
    it('answers from a session that satisfies the request', () => {
      expect(decideSso({ forceAuthn: false, isPassive: false, session: passwordSession })).toEqual({ kind: 'session' });
      expect(decideSso({ requested: request('minimum', PWD), forceAuthn: false, isPassive: false, session: totpSession })).toEqual({ kind: 'session' });
      expect(decideSso({ requested: request('exact', TOTP), forceAuthn: false, isPassive: true, session: totpSession })).toEqual({ kind: 'session' });
    });
    it('steps a password session up to the one-time code when the request needs more', () => {
      expect(decideSso({ requested: request('exact', TOTP), forceAuthn: false, isPassive: false, session: passwordSession })).toEqual({
        kind: 'login',
        secondFactor: true,
        certificate: false,
      });
      expect(decideSso({ requested: request('better', PWD), forceAuthn: false, isPassive: false })).toEqual({
        kind: 'login',
        secondFactor: true,
        certificate: false,
      });
    });
    it('answers an exact password request from a TOTP session (it attests the password too) rather than signing in again', () => {
      expect(decideSso({ requested: request('exact', PWD), forceAuthn: false, isPassive: true, session: totpSession })).toEqual({ kind: 'session' });
    });
    it('ForceAuthn signs in again even with a satisfying session', () => {
      expect(decideSso({ forceAuthn: true, isPassive: false, session: totpSession })).toEqual({ kind: 'login', secondFactor: false, certificate: false });
    });
    it('IsPassive without a usable session is NoPassive; an unsatisfiable request is NoAuthnContext first', () => {
      expect(decideSso({ forceAuthn: false, isPassive: true })).toEqual({ kind: 'no-passive' });
      expect(decideSso({ requested: request('exact', TOTP), forceAuthn: false, isPassive: true, session: passwordSession })).toEqual({ kind: 'no-passive' });
      expect(decideSso({ forceAuthn: true, isPassive: true, session: totpSession })).toEqual({ kind: 'no-passive' });
      expect(decideSso({ requested: request('exact', UNKNOWN), forceAuthn: false, isPassive: true, session: totpSession })).toEqual({
        kind: 'no-authn-context',
      });
      expect(decideSso({ requested: request('exact', CARD), forceAuthn: false, isPassive: false, methods: PASSWORD_METHODS })).toEqual({
        kind: 'no-authn-context',
      });
    });
    it('a smart-card request leads to certificate login, also as a step-up from a password or TOTP session', () => {
      for (const comparison of ['exact', 'minimum'] as const) {
        expect(decideSso({ requested: request(comparison, CARD), forceAuthn: false, isPassive: false, session: passwordSession })).toEqual({
          kind: 'login',
          secondFactor: false,
          certificate: true,
        });
      }
      expect(decideSso({ requested: request('better', TOTP), forceAuthn: false, isPassive: false, session: totpSession })).toEqual({
        kind: 'login',
        secondFactor: false,
        certificate: true,
      });
      expect(decideSso({ requested: request('exact', PKI), forceAuthn: false, isPassive: false, session: { amr: ['sc', 'pin', 'swk', 'mfa'] } })).toEqual({
        kind: 'session',
      });
      expect(decideSso({ requested: request('exact', CARD), forceAuthn: false, isPassive: true, session: totpSession })).toEqual({ kind: 'no-passive' });
    });
  });

  describe('parsing', () => {
    const authnRequest = (inner: string) =>
      parseXml(
        `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">${inner}</samlp:AuthnRequest>`,
      ).documentElement!;
    it('reads Comparison (default exact) and the class list', () => {
      expect(parseRequestedAuthnContext(authnRequest(''))).toBeUndefined();
      expect(
        parseRequestedAuthnContext(
          authnRequest(`<samlp:RequestedAuthnContext><saml:AuthnContextClassRef> ${TOTP} </saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`),
        ),
      ).toEqual({ comparison: 'exact', classRefs: [TOTP] });
      expect(
        parseRequestedAuthnContext(
          authnRequest(
            `<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>${PWD}</saml:AuthnContextClassRef><saml:AuthnContextClassRef>${TOTP}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`,
          ),
        ),
      ).toEqual({ comparison: 'minimum', classRefs: [PWD, TOTP] });
    });
    it('refuses an unknown Comparison, an empty list, declaration references and comment-split class names', () => {
      expect(() =>
        parseRequestedAuthnContext(
          authnRequest(
            `<samlp:RequestedAuthnContext Comparison="weaker"><saml:AuthnContextClassRef>${PWD}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`,
          ),
        ),
      ).toThrow(SamlError);
      expect(() => parseRequestedAuthnContext(authnRequest(`<samlp:RequestedAuthnContext/>`))).toThrow(SamlError);
      expect(() =>
        parseRequestedAuthnContext(
          authnRequest(`<samlp:RequestedAuthnContext><saml:AuthnContextDeclRef>urn:x</saml:AuthnContextDeclRef></samlp:RequestedAuthnContext>`),
        ),
      ).toThrow(SamlError);
      expect(() =>
        parseRequestedAuthnContext(
          authnRequest(`<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>${PWD}<!-- -->x</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`),
        ),
      ).toThrow(SamlError);
    });
  });
});
