import { NS, parseXml, MAX_METADATA_BYTES, textOf } from './xml.ts';

const MDUI = 'urn:oasis:names:tc:SAML:metadata:ui';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/**
 * The name an SP gives itself for people, from its metadata: `mdui:DisplayName` (the English one when
 * there are several, else the first), else `md:OrganizationDisplayName`. The portal shows it on the login
 * page; the metadata was registered by the operator, so the name is theirs to trust.
 */
export function spDisplayName(metadataXml: string): string | undefined {
  let document;
  try {
    document = parseXml(metadataXml, MAX_METADATA_BYTES);
  } catch {
    return undefined;
  }
  const pick = (elements: ArrayLike<import('@xmldom/xmldom').Element>): string | undefined => {
    const list = Array.from(elements);
    const chosen = list.find((e) => e.getAttributeNS(XML_NS, 'lang')?.toLowerCase().startsWith('en')) ?? list[0];
    const name = chosen ? textOf(chosen).trim() : '';
    return name ? name.slice(0, 80) : undefined;
  };
  return pick(document.getElementsByTagNameNS(MDUI, 'DisplayName')) ?? pick(document.getElementsByTagNameNS(NS.metadata, 'OrganizationDisplayName'));
}
