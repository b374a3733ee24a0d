import { createPublicKey, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import type xmlenc from 'xml-encryption';
import { NS } from './xml.ts';

/** The algorithms of an EncryptedAssertion (XML Encryption 1.1). */
export const ENCRYPTION = {
  /** Content: AES-256 in GCM mode, authenticated, so no CBC padding-oracle attacks. */
  content: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  /**
   * Key transport: RSA-OAEP with MGF1-SHA1 and a SHA-1 digest. That is the one OAEP variant every SP
   * library here decrypts (node-saml and saml2-js use xml-encryption 3.x, which knows only this
   * identifier); SHA-1 inside OAEP is not a collision use and remains sound.
   */
  keyTransport: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  keyDigest: 'sha1',
} as const;

interface XmlEnc {
  encrypt(content: string, options: xmlenc.EncryptOptions & { keyEncryptionDigest?: string }): Promise<string>;
  decrypt(xml: string, options: xmlenc.DecryptOptions): Promise<string>;
}
let loaded: Promise<XmlEnc> | undefined;
/**
 * xml-encryption (and the node-forge/xpath it pulls in) is loaded on first use, not at cold start: only
 * SPs that ask for encrypted assertions or send encrypted NameIDs need it. Bundled without code
 * splitting, esbuild keeps it in the one file and only defers its evaluation.
 */
const xmlEnc = (): Promise<XmlEnc> =>
  (loaded ??= import('xml-encryption').then(({ default: lib }) => ({
    encrypt: promisify(lib.encrypt) as XmlEnc['encrypt'],
    decrypt: promisify(lib.decrypt) as XmlEnc['decrypt'],
  })));

/**
 * The certificate to encrypt to, of those the SP's metadata lists for encryption (or for any use): the
 * first with an RSA key. Validity dates are not checked: in SAML metadata a certificate only carries the
 * key, which the metadata itself vouches for (SAML V2.0 Metadata Interoperability Profile §2.5.1). An SP
 * whose only keys are not RSA (e.g. an EC signing key without `use`) gets a plain, signed assertion.
 */
export function encryptionCertificateFor(certificates: readonly string[]): string | undefined {
  return certificates.find((pem) => {
    try {
      return new X509Certificate(pem).publicKey.asymmetricKeyType === 'rsa';
    } catch {
      return false;
    }
  });
}

/**
 * Encrypts a (signed) assertion for an SP: `<saml:EncryptedAssertion>` holding the EncryptedData with the
 * content key transported in KeyInfo/EncryptedKey. The assertion's own signature stays inside, so the SP
 * verifies it after decrypting (SAML Core §6.1: sign, then encrypt).
 */
export async function encryptAssertion(assertionXml: string, certificatePem: string): Promise<string> {
  const publicKey = createPublicKey(certificatePem).export({ format: 'pem', type: 'spki' }) as string;
  const encryptedData = await (
    await xmlEnc()
  ).encrypt(assertionXml, {
    rsa_pub: publicKey,
    pem: certificatePem,
    encryptionAlgorithm: ENCRYPTION.content,
    keyEncryptionAlgorithm: ENCRYPTION.keyTransport,
    keyEncryptionDigest: ENCRYPTION.keyDigest,
  });
  // The library's template indents with newlines; none of it is signed, so it is trimmed for size only.
  const compact = encryptedData.replace(/>\s+</g, '><').trim();
  return `<saml:EncryptedAssertion xmlns:saml="${NS.assertion}">${compact}</saml:EncryptedAssertion>`;
}

/** Decrypts an EncryptedData element (or a document holding one) with an RSA private key (PEM). */
export async function decryptElement(encryptedXml: string, privateKeyPem: string): Promise<string> {
  return (await xmlEnc()).decrypt(encryptedXml, { key: privateKeyPem, disallowDecryptionWithInsecureAlgorithm: true });
}
