import { SamlError } from './xml.ts';

/** What an SP asks us to sign: the Response, the Assertion, or both (the default). */
export const SIGNING_CHOICES = ['response', 'assertion', 'both'] as const;
export type SigningChoice = (typeof SIGNING_CHOICES)[number];

export function parseSigningChoice(value: string): SigningChoice {
  if (!(SIGNING_CHOICES as readonly string[]).includes(value)) throw new SamlError(`--sign must be one of ${SIGNING_CHOICES.join(', ')}, not "${value}"`);
  return value as SigningChoice;
}

/**
 * Which elements get a signature for this SP: its stored choice (default both), except that metadata
 * with WantAssertionsSigned="true" always gets a signed assertion (SAML Metadata §2.4.4).
 */
export function signaturesFor(sp: { readonly signing?: SigningChoice; readonly wantAssertionsSigned: boolean }): { response: boolean; assertion: boolean } {
  const choice = sp.signing ?? 'both';
  return { response: choice !== 'assertion', assertion: choice !== 'response' || sp.wantAssertionsSigned };
}
