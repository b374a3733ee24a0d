import * as z from '../zod.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { hashSecret, verifySecret } from '../crypto/password.ts';
import { LIST_PAGE, pageLimit, parseInput, type PageRequest } from '../validation.ts';
import type { Clock, DirectoryStore, Item, WrappedKey } from '../../ports.ts';
import { directoryKeys, tenantPartition } from './keys.ts';
import type { AccessEndings } from '../access/revocation.ts';
import { TENANT_ID, type Tenants } from './tenant.ts';

export const USERNAME = /^[a-z0-9](?:[a-z0-9._@-]{0,62}[a-z0-9])?$/;

/** Password policy: at least 12 characters; at most 1024, so nobody can make us hash megabytes. */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;
const passwordSchema = z
  .string()
  .check(z.minLength(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`), z.maxLength(PASSWORD_MAX_LENGTH));
/** Addresses are kept in lower case, so one address is one user whatever case it was typed in. */
const emailSchema = z.pipe(
  z.email().check(z.maxLength(254)),
  z.transform((e: string) => e.toLowerCase()),
);
const displayNameSchema = z.string().check(z.trim(), z.minLength(1), z.maxLength(100));

export const userAddSchema = z.strictObject({
  username: z.string().check(z.regex(USERNAME, 'must be 1-64 lower-case letters, digits or . _ @ - (not at the ends)')),
  email: z.optional(emailSchema),
  displayName: z.optional(displayNameSchema),
  password: z.optional(passwordSchema),
});

/** A change of a user's profile: `email: null` removes the address. Name, status and credentials have their own operations. */
export const userUpdateSchema = z
  .strictObject({
    email: z.optional(z.nullable(emailSchema)),
    displayName: z.optional(displayNameSchema),
  })
  .check(z.refine((u) => u.email !== undefined || u.displayName !== undefined, { message: 'give email or displayName' }));

const setPasswordSchema = z.strictObject({ password: passwordSchema });

/**
 * A hash of a random secret nobody knows, with the same scrypt parameters as real hashes: checking a
 * password for a user without one costs the same time as for a user with one (no enumeration by timing).
 */
const DUMMY_HASH = 'scrypt$32768$8$2$lrmz8VQo5amSM8MfKuXTTw$atApXi4z9SNiH5B2MEIITRLBrLvOgWwxTqJWfA_1P1g';

export interface User {
  readonly tenant: string;
  readonly username: string;
  readonly email?: string;
  readonly displayName: string;
  readonly status: 'active' | 'disabled';
  /** When the user was last disabled (epoch seconds): nothing granted before it is continued, ever. */
  readonly accessRevokedAt?: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

/** A user's TOTP enrolment: the secret only ever wrapped by the key custody (see core/portal/totp.ts). */
export interface UserTotp {
  readonly wrapped: WrappedKey;
  readonly enrolledAt: string;
  /** The last accepted time step: a code of this step or an earlier one is a replay. */
  readonly lastUsedStep?: number;
}

/** A TOTP secret the user started to enrol on their account page: active only once a code from it is confirmed. */
export interface UserTotpPending {
  readonly wrapped: WrappedKey;
  readonly startedAt: string;
}

/**
 * Stored form: the public user plus its credentials (password hash, wrapped TOTP secret, a pending TOTP
 * enrolment, the SHA-256 hashes of unused recovery codes), which never leave the core. The item's
 * `version` always equals `user.version`; every write is guarded on it.
 */
export type UserItem = Item & { version: number; user: User; passwordHash?: string; totp?: UserTotp; totpPending?: UserTotpPending; recoveryCodes?: string[] };

/**
 * The attributes that move a user item to its next version, keeping the item's and the user's version
 * equal. Merge them into an update guarded by `{ present: true, equals: { version: item.version } }`.
 */
export function nextUserVersion(item: UserItem, updatedAt?: string): { user: User; version: number } {
  const version = item.version + 1;
  return { user: { ...item.user, version, ...(updatedAt ? { updatedAt } : {}) }, version };
}

/** Users of a tenant. Passwords are stored only as memory-hard hashes. */
export class Users {
  readonly #directory: DirectoryStore;
  readonly #tenants: Tenants;
  readonly #clock: Clock;
  readonly #endings: Pick<AccessEndings, 'revokeUser'> | undefined;

  /** `endings` revokes a disabled user's sessions and grants; absent where there is no state table. */
  constructor(directory: DirectoryStore, tenants: Tenants, clock: Clock, endings?: Pick<AccessEndings, 'revokeUser'>) {
    this.#directory = directory;
    this.#tenants = tenants;
    this.#clock = clock;
    this.#endings = endings;
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

  /**
   * The users whose directory e-mail address is `email` (case-insensitive), through the e-mail index; at
   * most `limit`, enough for a caller to tell one user from several.
   */
  async withEmail(tenantId: string, email: string, limit = 3): Promise<User[]> {
    const address = email.toLowerCase();
    const { GSI1PK } = directoryKeys.userByEmail(tenantId, address);
    const page = await this.#directory.query<UserItem>({ index: 'GSI1', partition: GSI1PK, sortPrefix: address, limit });
    return page.items.map((item) => item.user).filter((user) => user.email?.toLowerCase() === address);
  }

  async get(tenantId: string, username: string): Promise<User> {
    const item = USERNAME.test(username) ? await this.#directory.get<UserItem>(directoryKeys.user(tenantId, username)) : undefined;
    if (!item) throw new NotFoundError(`user ${username} does not exist in tenant ${tenantId}`);
    return item.user;
  }

  /** Sets (or replaces) a user's password; guarded on the version so it cannot undo a concurrent change. */
  async setPassword(tenantId: string, username: string, password: string): Promise<User> {
    const request = parseInput(setPasswordSchema, { password }, 'password');
    await this.#tenants.get(tenantId);
    const item = await this.#item(tenantId, username);
    if (!item) throw new NotFoundError(`user ${username} does not exist in tenant ${tenantId}`);
    const passwordHash = await hashSecret(request.password);
    const next = nextUserVersion(item, new Date(this.#clock.now()).toISOString());
    try {
      await this.#directory.update(directoryKeys.user(tenantId, username), { ...next, passwordHash }, { present: true, equals: { version: item.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`user ${username} changed meanwhile; retry`);
      throw error;
    }
    return next.user;
  }

  /**
   * The user, when the tenant is active, the user exists, is active, has a password and it matches; else
   * undefined, without saying which. Every path that reads a user spends exactly one scrypt hash (against
   * a dummy hash when there is nothing to compare with), so timing does not tell whether a user exists.
   */
  async verifyPassword(tenantId: string, username: string, password: string): Promise<User | undefined> {
    if (typeof password !== 'string' || password.length === 0 || password.length > PASSWORD_MAX_LENGTH) return undefined;
    const [tenant, item] = await Promise.all([this.#tenants.find(tenantId), this.#item(tenantId, username)]);
    const usable = tenant?.status === 'active' && item?.user.status === 'active' && typeof item.passwordHash === 'string';
    const matches = await verifySecret(password, usable ? item!.passwordHash! : DUMMY_HASH);
    return usable && matches ? item!.user : undefined;
  }

  async #item(tenantId: string, username: string): Promise<UserItem | undefined> {
    if (!TENANT_ID.test(tenantId) || !USERNAME.test(username)) return undefined;
    return this.#directory.get<UserItem>(directoryKeys.user(tenantId, username));
  }

  /**
   * One page of the tenant's users in username order: one query of at most `limit` items from the
   * cursor on, so a page costs the same whatever the tenant's size.
   */
  async list(tenantId: string, options: PageRequest = {}): Promise<{ users: User[]; cursor?: string }> {
    const limit = pageLimit(options.limit, LIST_PAGE);
    await this.#tenants.get(tenantId);
    const page = await this.#directory.query<UserItem>({
      partition: tenantPartition(tenantId),
      sortPrefix: directoryKeys.userPrefix,
      limit,
      ...(options.cursor ? { cursor: options.cursor } : {}),
    });
    return { users: page.items.map((item) => item.user), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  /**
   * Disabling is idempotent; it is guarded on the version so it cannot undo a concurrent change. The
   * status write comes first (from then on the access check refuses every continuation), then the
   * user's SSO sessions, grants and card sessions are revoked; repeating a disable repeats the
   * revocation, so an operator can finish one an outage cut short.
   */
  async disable(tenantId: string, username: string): Promise<User> {
    const current = await this.get(tenantId, username);
    let result = current;
    if (current.status !== 'disabled') {
      const now = this.#clock.now();
      const next: User = {
        ...current,
        status: 'disabled',
        accessRevokedAt: Math.floor(now / 1000),
        updatedAt: new Date(now).toISOString(),
        version: current.version + 1,
      };
      try {
        await this.#directory.update(
          directoryKeys.user(tenantId, username),
          { user: next, version: next.version },
          { present: true, equals: { version: current.version } },
        );
      } catch (error) {
        if (error instanceof ConflictError) throw new ConflictError(`user ${username} changed meanwhile; retry`);
        throw error;
      }
      result = next;
    }
    await this.#endings?.revokeUser(tenantId, result.username);
    return result;
  }

  /** Changes the e-mail address (and its index entry) or the display name; guarded on the version. */
  async update(tenantId: string, username: string, input: unknown): Promise<User> {
    const request = parseInput(userUpdateSchema, input, 'user');
    const current = await this.get(tenantId, username);
    const { email: _old, ...rest } = current;
    const email = request.email === undefined ? current.email : (request.email ?? undefined);
    const now = this.#clock.now();
    const next: User = {
      ...rest,
      ...(email ? { email } : {}),
      displayName: request.displayName ?? current.displayName,
      updatedAt: new Date(now).toISOString(),
      version: current.version + 1,
    };
    const index = email ? directoryKeys.userByEmail(tenantId, email) : { GSI1PK: null, GSI1SK: null };
    try {
      await this.#directory.update(
        directoryKeys.user(tenantId, username),
        { user: next, version: next.version, ...index },
        { present: true, equals: { version: current.version } },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`user ${username} changed meanwhile; retry`);
      throw error;
    }
    return next;
  }

  /**
   * Deletes the user item (and with it the e-mail index entry, which lives on it); guarded on its
   * presence. Cards, devices and sessions are UserAccounts.delete's job, which calls this last.
   */
  async remove(tenantId: string, username: string): Promise<void> {
    if (!TENANT_ID.test(tenantId) || !USERNAME.test(username)) throw new NotFoundError(`user ${username} does not exist in tenant ${tenantId}`);
    try {
      await this.#directory.delete(directoryKeys.user(tenantId, username), { present: true });
    } catch (error) {
      if (error instanceof ConflictError) throw new NotFoundError(`user ${username} does not exist in tenant ${tenantId}`);
      throw error;
    }
  }

  /**
   * Re-enabling lets the user sign in again; it brings nothing back: `accessRevokedAt` stays, so every
   * session, token or code granted before the disable is still refused by the access check.
   */
  async enable(tenantId: string, username: string): Promise<User> {
    const current = await this.get(tenantId, username);
    if (current.status === 'active') return current;
    const now = this.#clock.now();
    const next: User = { ...current, status: 'active', updatedAt: new Date(now).toISOString(), version: current.version + 1 };
    try {
      await this.#directory.update(
        directoryKeys.user(tenantId, username),
        { user: next, version: next.version },
        { present: true, equals: { version: current.version } },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`user ${username} changed meanwhile; retry`);
      throw error;
    }
    return next;
  }
}
