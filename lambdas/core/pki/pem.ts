/** PEM (RFC 7468): the one reader and writer of the armoured base64 form certificates and CRLs travel in. */

/** PEM text of DER bytes: base64 in 64-column lines between the label's BEGIN and END lines. */
export const pem = (label: string, der: Uint8Array): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;

/**
 * The base64 body of the first `label` block, without armour or whitespace (what x5c, ds:X509Certificate
 * and a DER decode need); text without that block is taken as a bare body.
 */
export function pemBody(text: string, label = 'CERTIFICATE'): string {
  const block = new RegExp(`-----BEGIN ${label}-----([^-]*)-----END ${label}-----`).exec(text);
  return (block ? block[1]! : text).replace(/\s+/g, '');
}

/** PEM of a bare base64 body (a certificate from metadata or an x5c entry). */
export const pemOfBody = (base64: string, label = 'CERTIFICATE'): string => pem(label, Buffer.from(base64.replace(/\s+/g, ''), 'base64'));
