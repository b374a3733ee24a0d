import { createHash } from 'node:crypto';
import { derToJose } from '../crypto/ecdsa.ts';
import { PIV_ATR } from '../piv/atr.ts';
import { objectRule } from '../piv/objects.ts';
import { ConflictError } from '../errors.ts';
import { LIST_PAGE } from '../validation.ts';
import type { DirectoryStore, ResidentKeys } from '../../ports.ts';
import { readListSigner } from './list-signer.ts';
import { pemBody } from '../pki/pem.ts';
import { objectsOf, slotsOf, type CardItem } from './card-item.ts';
import type { Cards } from './cards.ts';

/** How long an agent may rely on a cached card list before fetching a new one. */
const LIST_SECONDS = 3_600;

export interface PublicCard {
  readonly id: string;
  readonly label: string;
  readonly serial: number;
  /** Hex. */
  readonly atr: string;
  readonly slots: ReadonlyArray<{ slot: string; algorithm: string }>;
  /** Public data objects (CCC, CHUID, Discovery, Key History, certificates) as hex tag → base64 content. */
  readonly objects: Readonly<Record<string, string>>;
}

/**
 * "Get tokens": the user's cards with their public objects, and a compact JWS (ES256 by the tenant's
 * card-list key, its certificate and the card CA's in `x5c`) over the list with each object named by its
 * SHA-256, so the agent can cache the list, serve those objects locally, and detect tampering with its
 * cache. The card function never signs with the CA key: the admin function made the card-list key and
 * had the CA certify it at the tenant's first enrolment. A tenant that never enrolled a card has neither,
 * and its users' (empty) lists come unsigned.
 */
export class CardLists {
  readonly #cards: Cards;
  readonly #directory: DirectoryStore;
  readonly #keys: ResidentKeys;

  constructor(cards: Cards, directory: DirectoryStore, keys: ResidentKeys) {
    this.#cards = cards;
    this.#directory = directory;
    this.#keys = keys;
  }

  async forUser(tenant: string, username: string, issuer: string, now: number): Promise<{ cards: PublicCard[]; signed?: string; expiresAt: number }> {
    const items: CardItem[] = [];
    let cursor: string | undefined;
    do {
      // The whole list in the fewest queries: the largest page the listing allows.
      const page = await this.#cards.listItems(tenant, { username, limit: LIST_PAGE.max, ...(cursor ? { cursor } : {}) });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    const cards = items.map(publicCard);
    const iat = Math.floor(now / 1000);
    const expiresAt = iat + LIST_SECONDS;
    const signer = await readListSigner(this.#directory, tenant);
    if (!signer) {
      if (cards.length === 0) return { cards, expiresAt };
      throw new ConflictError(`tenant ${tenant} has no card-list key yet (its card CA predates it): the next card enrolment makes it`);
    }
    // The signed manifest names each object by its SHA-256, which keeps it small (KMS signs messages up to
    // 4096 bytes as they are; beyond that we send the digest) while binding every byte the agent caches.
    const manifest = cards.map((card) => ({
      ...card,
      objects: Object.fromEntries(Object.entries(card.objects).map(([tag, content]) => [tag, sha256(content)])),
    }));
    const header = { alg: 'ES256', typ: 'cloudcard-cards+jwt', x5c: [pemBody(signer.certificatePem), pemBody(signer.caCertificatePem)] };
    const payload = { iss: issuer, sub: username, iat, exp: expiresAt, cards: manifest };
    const input = Buffer.from(`${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`, 'ascii');
    const der =
      input.length <= 4096
        ? await this.#keys.signMessage(signer.keyId, 'ECDSA_SHA_256', input, 'card-list')
        : await this.#keys.signDigest(signer.keyId, 'ECDSA_SHA_256', createHash('sha256').update(input).digest(), 'card-list');
    return { cards, signed: `${input.toString('ascii')}.${Buffer.from(derToJose(der, 32)).toString('base64url')}`, expiresAt };
  }
}

/** The base64 body of a PEM certificate, as `x5c` carries it. */
const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
const sha256 = (base64: string): string => createHash('sha256').update(Buffer.from(base64, 'base64')).digest('base64url');

function publicCard(item: CardItem): PublicCard {
  const objects: Record<string, string> = {};
  for (const [tag, value] of objectsOf(item)) {
    const rule = objectRule(tag);
    if (rule && !rule.pinToRead) objects[tag.toString(16)] = Buffer.from(value).toString('base64');
  }
  return {
    id: item.id,
    label: item.label,
    serial: item.serial,
    atr: Buffer.from(PIV_ATR).toString('hex'),
    slots: slotsOf(item).map(([slot, stored]) => ({ slot, algorithm: stored.algorithm })),
    objects,
  };
}
