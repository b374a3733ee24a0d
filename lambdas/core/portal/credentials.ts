import type { User, Users } from '../directory/user.ts';
import type { LoginThrottle } from './login-throttle.ts';

export type SignInResult =
  | { readonly outcome: 'ok'; readonly user: User }
  | { readonly outcome: 'invalid' }
  | { readonly outcome: 'locked'; readonly retryAfterSeconds: number; readonly reason: 'user' | 'ip' };

/**
 * The portal's password step: the login throttle first (a locked user or address is refused without any
 * password check), then the password, then the outcome counted. `invalid` never says whether the user
 * exists, is disabled, has no password or typed a wrong one.
 */
export class Credentials {
  readonly #users: Users;
  readonly #throttle: LoginThrottle;

  constructor(users: Users, throttle: LoginThrottle) {
    this.#users = users;
    this.#throttle = throttle;
  }

  /** `username` is taken case-insensitively (user names are lower case); `ip` is the client's address. */
  async signIn(tenant: string, username: string, password: string, ip: string): Promise<SignInResult> {
    const name = typeof username === 'string' ? username.trim().toLowerCase() : '';
    const decision = await this.#throttle.check(tenant, name, ip);
    if (!decision.allowed) return { outcome: 'locked', retryAfterSeconds: decision.retryAfterSeconds, reason: decision.reason };
    const user = await this.#users.verifyPassword(tenant, name, password);
    if (!user) {
      await this.#throttle.recordFailure(tenant, name, ip);
      return { outcome: 'invalid' };
    }
    await this.#throttle.recordSuccess(tenant, name);
    return { outcome: 'ok', user };
  }
}
