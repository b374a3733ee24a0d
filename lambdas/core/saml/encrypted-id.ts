import type { Element } from '@xmldom/xmldom';
import { XMLSerializer } from '@xmldom/xmldom';
import { decryptElement } from './encryption.ts';
import { child, NS, parseXml, SamlError } from './xml.ts';

const XMLENC = 'http://www.w3.org/2001/04/xmlenc#';

/** The encrypted identifiers a request may carry, and what each must decrypt to (SAML Core §2.2.4, §3.6.1). */
const ENCRYPTED = [
  { ns: NS.assertion, name: 'EncryptedID', plain: { ns: NS.assertion, name: 'NameID' } },
  { ns: NS.protocol, name: 'NewEncryptedID', plain: { ns: NS.protocol, name: 'NewID' } },
] as const;

/**
 * Replaces an EncryptedID (and a ManageNameIDRequest's NewEncryptedID) of a request that already passed
 * its signature check with the identifier it carries, decrypted with our encryption key (the one our
 * metadata publishes). The EncryptedKey may sit inside EncryptedData's KeyInfo or beside it (SAML Core
 * §2.2.4 allows both). Only OAEP key transport and GCM/CBC-with-integrity content decrypt (xml-encryption
 * refuses the insecure ones); the plaintext goes through the hardened parser and must be the identifier
 * element the schema expects there, nothing else.
 */
export async function decryptIdentifiers(element: Element, decryptionKeys: () => Promise<readonly string[]>): Promise<void> {
  for (const kind of ENCRYPTED) {
    const encrypted = child(element, kind.ns, kind.name);
    if (!encrypted) continue;
    const privateKeysPem = await decryptionKeys();
    const data = child(encrypted, XMLENC, 'EncryptedData');
    if (!data) throw new SamlError(`${kind.name} holds no EncryptedData`);
    const sibling = child(encrypted, XMLENC, 'EncryptedKey');
    if (sibling) {
      let keyInfo = child(data, NS.dsig, 'KeyInfo');
      if (!keyInfo) {
        keyInfo = data.ownerDocument!.createElementNS(NS.dsig, 'ds:KeyInfo');
        data.insertBefore(keyInfo, child(data, XMLENC, 'CipherData') ?? null);
      }
      keyInfo.appendChild(sibling);
    }
    const serialized = new XMLSerializer().serializeToString(data);
    let plaintext: string | undefined;
    for (const key of privateKeysPem) {
      try {
        plaintext = await decryptElement(serialized, key);
        break;
      } catch {
        // not for this key: try the next one
      }
    }
    if (plaintext === undefined) throw new SamlError(`${kind.name} does not decrypt with our encryption key`);
    const identifier = parseXml(`${plaintext}`).documentElement;
    if (!identifier || identifier.namespaceURI !== kind.plain.ns || identifier.localName !== kind.plain.name) {
      throw new SamlError(`${kind.name} must carry a ${kind.plain.name}`);
    }
    element.replaceChild(element.ownerDocument!.importNode(identifier, true), encrypted);
  }
}
