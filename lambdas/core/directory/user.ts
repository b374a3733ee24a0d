import { z } from 'zod';
import { ConflictError, NotFoundError } from '../errors.ts';
import { hashSecret } from '../crypto/password.ts';
import { parseInput } from '../validation.ts';
import type { Clock, DirectoryStore, Item } from '../../ports.ts';
import { directoryKeys, tenantPartition } from './keys.ts';
import type { Tenants } from './tenant.ts';

export const USERNAME = /^[a-z0-9](?:[a-z0-9._@-]{0,62}[a-z0-9])?$/;

export const userAddSchema = z
  .object({
    username: z.string().regex(USERNAME, 'must be 1-64 lower-case letters, digits or . _ @ - (not at the ends)'),
    email: z.string().email().max(254).transform((e) => e.toLowerCase()).optional(),
    displayName: z.string().trim().min(1).max(100).optional(),
    password: z.string().min(12, 'must be at least 12 characters').max(1024).optional(),
  })
  .strict();

export interface User {
  readonly tenant: string;
  readonly username: string;
  readonly email?: string;
  readonly displayName: string;
  readonly status: 'active' | 'disabled';
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

/** Stored form: the public user plus its credential hash, which never leaves the core. */
type UserItem = Item & { version: number; user: User; passwordHash?: string };

/** Users of a tenant. Passwords are stored only as memory-hard hashes. */
export class Users {
  readonly #directory: DirectoryStore;
  readonly #tenants: Tenants;
  readonly #clock: Clock;

  constructor(directory: DirectoryStore, tenants: Tenants, clock: Clock) {
    this.#directory = directory;
    this.#tenants = tenants;
    this.#clock = clock;
  }

  async add(tenantId: string, input: unknown): Promise<User> {
    const request = parseInput(userAddSchema, input, 'user');
    await this.#tenants.get(tenantId);
    const now = new Date(this.#clock.now()).toISOString();
    const user: User = {
      tenant: tenantId,
      username: request.username,
      ...(request.email ? { email: request.email } : {}),
      displayName: request.displayName ?? request.username,
      status: 'active',
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    const item: UserItem = {
      ...directoryKeys.user(tenantId, user.username),
      ...(user.email ? directoryKeys.userByEmail(tenantId, user.email) : {}),
      type: 'user',
      version: 1,
      user,
      ...(request.password ? { passwordHash: await hashSecret(request.password) } : {}),
    };
    try {
      await this.#directory.put(item, { absent: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`user ${user.username} already exists in tenant ${tenantId}`);
      throw error;
    }
    return user;
  }

  async get(tenantId: string, username: string): Promise<User> {
    const item = USERNAME.test(username) ? await this.#directory.get<UserItem>(directoryKeys.user(tenantId, username)) : undefined;
    if (!item) throw new NotFoundError(`user ${username} does not exist in tenant ${tenantId}`);
    return item.user;
  }

  async list(tenantId: string, cursor?: string): Promise<{ users: User[]; cursor?: string }> {
    await this.#tenants.get(tenantId);
    const page = await this.#directory.query<UserItem>({
      partition: tenantPartition(tenantId),
      sortPrefix: directoryKeys.userPrefix,
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    return { users: page.items.map((item) => item.user), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  /** Disabling is idempotent; it is guarded on the version so it cannot undo a concurrent change. */
  async disable(tenantId: string, username: string): Promise<User> {
    const current = await this.get(tenantId, username);
    if (current.status === 'disabled') return current;
    const next: User = { ...current, status: 'disabled', updatedAt: new Date(this.#clock.now()).toISOString(), version: current.version + 1 };
    try {
      await this.#directory.update(directoryKeys.user(tenantId, username), { user: next, version: next.version }, { present: true, equals: { version: current.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`user ${username} changed meanwhile; retry`);
      throw error;
    }
    return next;
  }
}
