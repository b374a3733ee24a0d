import { ConflictError, NotFoundError } from '../errors.ts';
import { hashSecret, verifySecret } from '../crypto/password.ts';
import type { Clock, DirectoryStore, Item, Random } from '../../ports.ts';
import { directoryKeys } from './keys.ts';

/** What listing shows of an admin client: never its secret or hash. */
export interface AdminClientSummary {
  readonly clientId: string;
  readonly createdAt: string;
}

export interface AdminClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

type AdminClientItem = Item & { clientId: string; secretHash: string; createdAt: string; disabled?: boolean };

const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
const { PK: ADMIN_PARTITION, SK: ADMIN_PREFIX } = directoryKeys.adminClient('');

/**
 * Platform administrator clients: the credentials the operator CLI and automation use on the admin API.
 * The secret is shown once at creation and stored only as a hash.
 */
export class AdminClients {
  readonly #directory: DirectoryStore;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(directory: DirectoryStore, clock: Clock, random: Random) {
    this.#directory = directory;
    this.#clock = clock;
    this.#random = random;
  }

  async create(): Promise<AdminClientCredentials> {
    const clientId = `admin-${this.#random.id()}`;
    const clientSecret = Buffer.from(this.#random.bytes(32)).toString('base64url');
    await this.#directory.put(
      {
        ...directoryKeys.adminClient(clientId),
        type: 'admin-client',
        clientId,
        secretHash: await hashSecret(clientSecret),
        createdAt: new Date(this.#clock.now()).toISOString(),
      },
      { absent: true },
    );
    return { clientId, clientSecret };
  }

  async list(cursor?: string): Promise<{ clients: AdminClientSummary[]; cursor?: string }> {
    const page = await this.#directory.query<AdminClientItem>({
      partition: ADMIN_PARTITION,
      sortPrefix: ADMIN_PREFIX,
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    return { clients: page.items.map((item) => ({ clientId: item.clientId, createdAt: item.createdAt })), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  /** Deletes a client: its credentials stop working at the next request. */
  async remove(clientId: string): Promise<void> {
    try {
      await this.#directory.delete(directoryKeys.adminClient(clientId), { present: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new NotFoundError(`admin client ${clientId} does not exist`);
      throw error;
    }
  }

  /** True only for an existing, enabled client whose secret matches. */
  async verify(clientId: string, clientSecret: string): Promise<boolean> {
    if (!CLIENT_ID.test(clientId) || clientSecret.length === 0 || clientSecret.length > 256) return false;
    const item = await this.#directory.get<AdminClientItem>(directoryKeys.adminClient(clientId));
    if (!item || item.disabled) return false;
    return verifySecret(clientSecret, item.secretHash);
  }
}
