import type { User, Users } from '../directory/user.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { TotpEnrolment } from './totp.ts';
import type { RecoveryCodes } from './recovery-codes.ts';
import { NO_SECURITY_EVENTS, type SecurityEvents } from '../security-events.ts';

export type SignInResult =
  | { readonly outcome: 'ok'; readonly user: User }
  | { readonly outcome: 'invalid' }
  | { readonly outcome: 'locked'; readonly retryAfterSeconds: number; readonly reason: 'user' | 'ip' };

export type SecondFactorResult =
  | { readonly outcome: 'ok' }
  | { readonly outcome: 'invalid' }
  | { readonly outcome: 'locked'; readonly retryAfterSeconds: number; readonly reason: 'user' | 'ip' };

/**
 * The sign-in steps of the portal and of the password grant, each under the login throttle: a try is
 * reserved before any comparison (see LoginThrottle.attempt), so parallel guesses cannot exceed the limit.
 * `invalid` never says whether the user exists, is disabled, has no password or typed a wrong one.
 */
export class Credentials {
  readonly #users: Users;
  readonly #throttle: LoginThrottle;
  readonly #totp: TotpEnrolment | undefined;
  readonly #events: SecurityEvents;
  readonly #recovery: RecoveryCodes | undefined;

  constructor(users: Users, throttle: LoginThrottle, totp?: TotpEnrolment, events: SecurityEvents = NO_SECURITY_EVENTS, recovery?: RecoveryCodes) {
    this.#users = users;
    this.#throttle = throttle;
    this.#totp = totp;
    this.#events = events;
    this.#recovery = recovery;
  }

  /** `username` is taken case-insensitively (user names are lower case); `ip` is the client's address. */
  async signIn(tenant: string, username: string, password: string, ip: string): Promise<SignInResult> {
    const name = typeof username === 'string' ? username.trim().toLowerCase() : '';
    const result = await this.#throttle.attempt(tenant, name, ip, 'password', () => this.#users.verifyPassword(tenant, name, password));
    // One event per outcome (the name as typed for a failure: it says nothing about whether the user exists).
    const who = { tenant, username: name.slice(0, 64), ip };
    if (result.outcome === 'ok') this.#events.emit({ kind: 'sign-in-success', ...who, reason: 'password' });
    else if (result.outcome === 'invalid') this.#events.emit({ kind: 'sign-in-failure', ...who, reason: 'password' });
    else this.#events.emit({ kind: 'lockout', ...who, reason: `password:${result.reason}` });
    return result.outcome === 'ok' ? { outcome: 'ok', user: result.value } : result;
  }

  /**
   * The one-time-code step after a right password: six digits from the authenticator app, or one of the
   * user's recovery codes (spent by its use). Its failures count on a counter of their own that a right
   * password does not clear; only a right code (or an administrator's unlock) does.
   */
  async verifyOneTimeCode(tenant: string, username: string, code: string, ip: string): Promise<SecondFactorResult> {
    const totp = this.#totp;
    if (!totp) throw new Error('one-time codes need the key custody that unwraps TOTP secrets');
    const compact = typeof code === 'string' ? code.replace(/\s/g, '') : '';
    const recovery = this.#recovery;
    // Six digits are an authenticator code; anything else is taken as a recovery code.
    const method = /^\d{6}$/.test(compact) ? 'totp' : 'recovery-code';
    const result = await this.#throttle.attempt(tenant, username, ip, 'otp', async () => {
      if (method === 'totp') return (await totp.verify(tenant, username, compact)) ? true : undefined;
      return recovery && typeof code === 'string' && (await recovery.consume(tenant, username, code)) ? true : undefined;
    });
    // One event per outcome, as for the password step; `reason` names the method, never the code.
    const who = { tenant, username, ip };
    if (result.outcome === 'ok') this.#events.emit({ kind: 'sign-in-success', ...who, reason: method });
    else if (result.outcome === 'invalid') this.#events.emit({ kind: 'sign-in-failure', ...who, reason: method });
    else this.#events.emit({ kind: 'lockout', ...who, reason: `otp:${result.reason}` });
    return result.outcome === 'ok' ? { outcome: 'ok' } : result;
  }
}
