import { ConflictError, NotFoundError } from '../errors.ts';
import { opaqueHash } from '../oidc/hashing.ts';
import type { Clock, DirectoryStore, Random } from '../../ports.ts';
import { directoryKeys } from '../directory/keys.ts';
import { TENANT_ID } from '../directory/tenant.ts';
import { nextUserVersion, USERNAME, type UserItem } from '../directory/user.ts';

/** How many codes a set has; a new set replaces the old one whole. */
export const RECOVERY_CODE_COUNT = 10;
/** Letters and digits nobody confuses when reading them off paper (no 0/o, 1/l/i). */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
/** Ten characters of 31: about 49 bits each, against at most 5 guesses per 15 minutes (the login throttle). */
const CODE_LENGTH = 10;
/** Attempts at spending a code when the user item keeps changing under us. */
const MAX_ATTEMPTS = 5;

/** A code as typed (any case, spaces or the dash we print) in its stored form's input; undefined when it cannot be one. */
export function normaliseRecoveryCode(code: string): string | undefined {
  if (typeof code !== 'string' || code.length > 32) return undefined;
  const compact = code.toLowerCase().replace(/[\s-]/g, '');
  return compact.length === CODE_LENGTH && [...compact].every((c) => ALPHABET.includes(c)) ? compact : undefined;
}

/** How a code is printed: two groups of five. */
const printed = (code: string): string => `${code.slice(0, 5)}-${code.slice(5)}`;

/**
 * One-time recovery codes for the second factor: shown once when made, stored only as SHA-256 hashes on
 * the user item (`recoveryCodes`; random codes need no memory-hard hash), each spent by one update guarded
 * on the user item's version, so a code is accepted once even when submitted twice at the same time.
 */
export class RecoveryCodes {
  readonly #directory: DirectoryStore;
  readonly #random: Random;
  readonly #clock: Clock;

  constructor(directory: DirectoryStore, random: Random, clock: Clock) {
    this.#directory = directory;
    this.#random = random;
    this.#clock = clock;
  }

  /** Makes a new set (the old one stops working) and returns it, printed, this once. */
  async generate(tenant: string, username: string): Promise<string[]> {
    const item = await this.#item(tenant, username);
    if (!item) throw new NotFoundError(`user ${username} does not exist in tenant ${tenant}`);
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => this.#code());
    try {
      await this.#directory.update(
        { PK: item.PK, SK: item.SK },
        { ...nextUserVersion(item, new Date(this.#clock.now()).toISOString()), recoveryCodes: codes.map((code) => opaqueHash(code)) },
        { present: true, equals: { version: item.version } },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`user ${username} changed meanwhile; retry`);
      throw error;
    }
    return codes.map(printed);
  }

  /** How many unused codes the user has. */
  async remaining(tenant: string, username: string): Promise<number> {
    return (await this.#item(tenant, username))?.recoveryCodes?.length ?? 0;
  }

  /** True once for an unused code of an active user; the code is removed in the same guarded write. */
  async consume(tenant: string, username: string, code: string): Promise<boolean> {
    const compact = normaliseRecoveryCode(code);
    if (!compact) return false;
    const hash = opaqueHash(compact);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const item = await this.#item(tenant, username);
      if (!item?.recoveryCodes?.includes(hash) || item.user.status !== 'active') return false;
      try {
        await this.#directory.update(
          { PK: item.PK, SK: item.SK },
          { ...nextUserVersion(item), recoveryCodes: item.recoveryCodes.filter((stored) => stored !== hash) },
          { present: true, equals: { version: item.version } },
        );
        return true;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        // Changed meanwhile (perhaps this very code was just spent): decide again on the item as it is now.
      }
    }
    return false;
  }

  #code(): string {
    const bytes = this.#random.bytes(CODE_LENGTH);
    // 256 is not a multiple of 31: the small bias (a few letters slightly likelier) costs under 0.1 bit per code.
    return Array.from(bytes, (byte) => ALPHABET[byte % ALPHABET.length]).join('');
  }

  async #item(tenant: string, username: string): Promise<UserItem | undefined> {
    if (!TENANT_ID.test(tenant) || !USERNAME.test(username)) return undefined;
    return this.#directory.get<UserItem>(directoryKeys.user(tenant, username));
  }
}
