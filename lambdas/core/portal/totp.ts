import { Secret, TOTP } from 'otpauth';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock, DirectoryStore, KeyCustody, WrapContext } from '../../ports.ts';
import { directoryKeys } from '../directory/keys.ts';
import { TENANT_ID } from '../directory/tenant.ts';
import { nextUserVersion, USERNAME, type UserItem, type UserTotp } from '../directory/user.ts';

/**
 * RFC 6238 parameters every authenticator app expects by default: a 160-bit secret, HMAC-SHA1, six
 * digits, 30-second steps; a code of the step before or after the current one is accepted (clock drift).
 */
export const TOTP_PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30, window: 1, secretBytes: 20 } as const;

/** What enrolment hands out once: the provisioning URI (for a QR code) and the same secret in base32. */
export interface TotpEnrolmentSecret {
  /** `otpauth://totp/{issuer}:{username}?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30` */
  readonly uri: string;
  readonly secretBase32: string;
}

/** The custody context a user's TOTP secret is wrapped under: it opens for this tenant and user only. */
export const totpWrapContext = (tenant: string, username: string): WrapContext => ({ tenant, card: 'totp', slot: username });

/** Attempts at recording an accepted step when the user item keeps changing under us. */
const MAX_ATTEMPTS = 5;

function otpSecret(bytes: Uint8Array): Secret {
  // Copy: a Buffer may be a view into a shared pool, and Secret takes the whole underlying ArrayBuffer.
  return new Secret({ buffer: Uint8Array.from(bytes).buffer });
}

/** The provisioning URI of a secret (Key Uri Format, as authenticator apps scan it). */
export function totpUri(secret: Uint8Array, issuer: string, username: string): string {
  const { algorithm, digits, period } = TOTP_PARAMETERS;
  return new TOTP({ issuer, label: username, issuerInLabel: true, secret: otpSecret(secret), algorithm, digits, period }).toString();
}

/** A submitted code as six digits (spaces people type in the middle removed), or undefined. */
function normaliseCode(code: string): string | undefined {
  if (typeof code !== 'string' || code.length > 32) return undefined;
  const digits = code.replace(/\s+/g, '');
  return /^\d{6}$/.test(digits) ? digits : undefined;
}

/**
 * The time step a code belongs to when it is valid at `nowMs` (within ±1 step) and newer than the last
 * accepted step; undefined for a wrong code, a code outside the window, or a replay of a used step.
 */
export function matchTotpStep(secret: Uint8Array, code: string, nowMs: number, lastUsedStep?: number): number | undefined {
  const token = normaliseCode(code);
  if (!token) return undefined;
  const { algorithm, digits, period, window } = TOTP_PARAMETERS;
  const delta = TOTP.validate({ token, secret: otpSecret(secret), algorithm, digits, period, window, timestamp: nowMs });
  if (delta === null) return undefined;
  const step = TOTP.counter({ period, timestamp: nowMs }) + delta;
  return lastUsedStep !== undefined && step <= lastUsedStep ? undefined : step;
}

function checkIssuer(issuerLabel: string): string {
  const issuer = typeof issuerLabel === 'string' ? issuerLabel.trim() : '';
  // The colon separates issuer and account in the label; control characters have no place in an app's list.
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (issuer.length === 0 || issuer.length > 100 || /[:\u0000-\u001f\u007f]/.test(issuer)) {
    throw new ValidationError('invalid issuer label', ['issuer: must be 1-100 characters, without colons or control characters']);
  }
  return issuer;
}

/**
 * TOTP second factor of a tenant's users. The secret is stored only wrapped by the key custody, on the
 * user item (`totp`); every write is one update guarded on the user item's version, so an accepted code
 * is recorded exactly once and a second submission of it (even a concurrent one) is refused.
 */
export class TotpEnrolment {
  readonly #directory: DirectoryStore;
  readonly #custody: KeyCustody;
  readonly #clock: Clock;

  constructor(directory: DirectoryStore, custody: KeyCustody, clock: Clock) {
    this.#directory = directory;
    this.#custody = custody;
    this.#clock = clock;
  }

  /**
   * Generates a new secret for the user, replacing any earlier enrolment, and returns it once (the URI to
   * show as a QR code and the base32 secret to type in). It is never readable again.
   */
  async enroll(tenant: string, username: string, issuerLabel: string): Promise<TotpEnrolmentSecret> {
    const issuer = checkIssuer(issuerLabel);
    const item = await this.#require(tenant, username);
    const secret = new Secret({ size: TOTP_PARAMETERS.secretBytes });
    const wrapped = await this.#custody.wrap(secret.bytes, totpWrapContext(tenant, username));
    const now = new Date(this.#clock.now()).toISOString();
    const totp: UserTotp = { wrapped, enrolledAt: now };
    await this.#write(item, { ...nextUserVersion(item, now), totp });
    return { uri: totpUri(secret.bytes, issuer, username), secretBase32: secret.base32 };
  }

  /**
   * True once for a valid code of an enrolled, active user: the code must belong to the current step or
   * the one either side, and to a later step than the last accepted code. False otherwise (also for an
   * unknown user or one without TOTP).
   */
  async verify(tenant: string, username: string, code: string): Promise<boolean> {
    if (normaliseCode(code) === undefined) return false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const item = await this.#item(tenant, username);
      if (!item?.totp || item.user.status !== 'active') return false;
      const secret = await this.#custody.unwrap(item.totp.wrapped, totpWrapContext(tenant, username));
      const step = matchTotpStep(secret, code, this.#clock.now(), item.totp.lastUsedStep);
      secret.fill(0);
      if (step === undefined) return false;
      const totp: UserTotp = { ...item.totp, lastUsedStep: step };
      try {
        await this.#directory.update(
          directoryKeys.user(tenant, username),
          { ...nextUserVersion(item), totp },
          { present: true, equals: { version: item.version } },
        );
        return true;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        // The user item changed since we read it: perhaps this very code was just accepted. Decide again
        // on the item as it is now; the replay check then refuses the step that was recorded.
      }
    }
    return false;
  }

  /**
   * The account page's enrolment, in two steps so a mistyped scan cannot lock the user out: `begin` keeps
   * a new secret beside the user's current one (wrapped, pending) and returns it once; `confirm` makes it
   * the user's secret only with a valid code from it. A new `begin` replaces a pending secret.
   */
  async begin(tenant: string, username: string, issuerLabel: string): Promise<TotpEnrolmentSecret> {
    const issuer = checkIssuer(issuerLabel);
    const item = await this.#require(tenant, username);
    const secret = new Secret({ size: TOTP_PARAMETERS.secretBytes });
    const wrapped = await this.#custody.wrap(secret.bytes, totpWrapContext(tenant, username));
    const now = new Date(this.#clock.now()).toISOString();
    await this.#write(item, { ...nextUserVersion(item, now), totpPending: { wrapped, startedAt: now } });
    return { uri: totpUri(secret.bytes, issuer, username), secretBase32: secret.base32 };
  }

  /** Activates the pending secret when `code` is valid for it (the step is recorded: no replay); false otherwise. */
  async confirm(tenant: string, username: string, code: string): Promise<boolean> {
    const item = await this.#item(tenant, username);
    if (!item?.totpPending || item.user.status !== 'active' || normaliseCode(code) === undefined) return false;
    const secret = await this.#custody.unwrap(item.totpPending.wrapped, totpWrapContext(tenant, username));
    const step = matchTotpStep(secret, code, this.#clock.now());
    secret.fill(0);
    if (step === undefined) return false;
    const now = new Date(this.#clock.now()).toISOString();
    const totp: UserTotp = { wrapped: item.totpPending.wrapped, enrolledAt: now, lastUsedStep: step };
    await this.#write(item, { ...nextUserVersion(item, now), totp, totpPending: null });
    return true;
  }

  /** Whether the user has an active secret, and one begun on the account page that awaits its first code. */
  async status(tenant: string, username: string): Promise<{ enrolled: boolean; pending: boolean }> {
    const item = await this.#item(tenant, username);
    return { enrolled: item?.totp !== undefined, pending: item?.totpPending !== undefined };
  }

  async isEnrolled(tenant: string, username: string): Promise<boolean> {
    return (await this.#item(tenant, username))?.totp !== undefined;
  }

  /** Removes the user's TOTP enrolment; false when there was none. NotFound for an unknown user. */
  async remove(tenant: string, username: string): Promise<boolean> {
    const item = await this.#require(tenant, username);
    if (!item.totp) return false;
    await this.#write(item, { ...nextUserVersion(item, new Date(this.#clock.now()).toISOString()), totp: null });
    return true;
  }

  async #item(tenant: string, username: string): Promise<UserItem | undefined> {
    if (!TENANT_ID.test(tenant) || !USERNAME.test(username)) return undefined;
    return this.#directory.get<UserItem>(directoryKeys.user(tenant, username));
  }

  async #require(tenant: string, username: string): Promise<UserItem> {
    const item = await this.#item(tenant, username);
    if (!item) throw new NotFoundError(`user ${username} does not exist in tenant ${tenant}`);
    return item;
  }

  async #write(item: UserItem, changes: Record<string, unknown>): Promise<void> {
    try {
      await this.#directory.update({ PK: item.PK, SK: item.SK }, changes, { present: true, equals: { version: item.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(`user ${item.user.username} changed meanwhile; retry`);
      throw error;
    }
  }
}
