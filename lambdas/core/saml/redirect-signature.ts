/**
 * The octets a Redirect-binding signature covers (SAML Bindings §3.4.4.1): `{parameter}=…[&RelayState=…]&SigAlg=…`
 * with the values URL-encoded exactly as the sender sent them. API Gateway's event gives decoded values
 * only, and URL encoders differ (which characters stay literal, `+` or `%20` for a space, hex case), so a
 * signature is checked against the encodings real senders use: JavaScript's encodeURIComponent (ours),
 * strict RFC 3986 (Python's quote, PHP's rawurlencode), form encoding (Python's quote_plus, Java's
 * URLEncoder, PHP's urlencode: space as `+`) and .NET's (lower-case hex). They all encode the same values,
 * so accepting any of them lets no other message through.
 */

/** Characters each encoder leaves as they are, besides ASCII letters and digits. */
const LITERALS = ["-_.!~*'()", '-_.~', '-_.*', '-_.', '-_.!()*'] as const;

interface Encoding {
  readonly literals: string;
  readonly spaceAsPlus: boolean;
  readonly lowerHex: boolean;
}

const ENCODINGS: readonly Encoding[] = LITERALS.flatMap((literals) =>
  [false, true].flatMap((spaceAsPlus) => [false, true].map((lowerHex) => ({ literals, spaceAsPlus, lowerHex }))),
);

function encode(value: string, { literals, spaceAsPlus, lowerHex }: Encoding): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9]/.test(char) || (byte < 0x80 && literals.includes(char))) out += char;
    else if (char === ' ' && spaceAsPlus) out += '+';
    else {
      const hex = byte.toString(16).padStart(2, '0');
      out += `%${lowerHex ? hex : hex.toUpperCase()}`;
    }
  }
  return out;
}

function octets(parameter: string, value: string, relayState: string | undefined, sigAlg: string, encoding: Encoding): string {
  const parts = [`${parameter}=${encode(value, encoding)}`];
  if (relayState !== undefined) parts.push(`RelayState=${encode(relayState, encoding)}`);
  parts.push(`SigAlg=${encode(sigAlg, encoding)}`);
  return parts.join('&');
}

/** What we sign when we send a Redirect-binding message: encodeURIComponent's encoding, as the URL we build carries it. */
export const redirectOctets = (parameter: string, value: string, relayState: string | undefined, sigAlg: string): string =>
  octets(parameter, value, relayState, sigAlg, ENCODINGS[0]!);

/** Every distinct encoding of a received message's signed octets, ours first (at most 20; usually a handful). */
export function receivedRedirectOctets(parameter: string, value: string, relayState: string | undefined, sigAlg: string): Buffer[] {
  const distinct = new Set(ENCODINGS.map((encoding) => octets(parameter, value, relayState, sigAlg, encoding)));
  return [...distinct].map((text) => Buffer.from(text, 'utf8'));
}
