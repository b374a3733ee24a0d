import { randomBytes } from 'node:crypto';
import { ConfigError } from '../lambdas/config.ts';
import { ConflictError } from '../lambdas/core/errors.ts';
import type { AdminClientCredentials } from '../lambdas/core/directory/admin-client.ts';
import { userAddSchema } from '../lambdas/core/directory/user.ts';
import type { DirectoryServices } from '../lambdas/runtime.ts';

export const DEMO_TENANT = 'demo';
export const DEMO_USER = 'alice';

export interface SeedResult {
  /** Set only when this start created the demo user with a generated password (printed once). */
  readonly generatedPassword?: string;
  readonly createdTenant: boolean;
  /** Set only when this start created the bootstrap admin client. */
  readonly bootstrap?: AdminClientCredentials;
}

/** The variable that chooses the demo user's password on first start. */
export const DEMO_PASSWORD_VARIABLE = 'CLOUDCARD_DEMO_PASSWORD';

/**
 * The password policy's verdict on a chosen demo password (the same rule the admin API applies), or
 * undefined when it is acceptable.
 */
export function demoPasswordProblem(password: string): string | undefined {
  const result = userAddSchema.shape.password.safeParse(password);
  return result.success ? undefined : result.error.issues.map((issue) => issue.message).join('; ');
}

/**
 * First-start seeding of the embedded stack: tenant `demo`, user `alice`, the agent's client and one
 * admin client. Each step is a conditional create, so a restart (or two starts racing) never duplicates or overwrites.
 */
export async function seedDemo(services: DirectoryServices, options: { demoPassword?: string; needBootstrap: boolean }): Promise<SeedResult> {
  // A chosen password that breaks the policy stops the start naming the variable, before anything is written.
  const problem = options.demoPassword === undefined ? undefined : demoPasswordProblem(options.demoPassword);
  if (problem) throw new ConfigError([{ variable: DEMO_PASSWORD_VARIABLE, message: problem }]);
  let createdTenant = false;
  try {
    await services.tenants.create({ id: DEMO_TENANT, displayName: 'Demo tenant' });
    createdTenant = true;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
  let generatedPassword: string | undefined;
  const password = options.demoPassword ?? (generatedPassword = randomBytes(12).toString('base64url'));
  try {
    await services.users.add(DEMO_TENANT, { username: DEMO_USER, email: 'alice@demo.example', displayName: 'Alice Demo', password });
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    generatedPassword = undefined; // alice existed: her password is whatever it was
  }
  // The client agent's well-known client, so `cloudcard-agent login --issuer .../t/demo` works at once
  // (idempotent: an existing one, possibly changed by the operator, is left as it is).
  await services.clients.addAgent(DEMO_TENANT);
  const bootstrap = options.needBootstrap ? await services.adminClients.create() : undefined;
  return { createdTenant, ...(generatedPassword ? { generatedPassword } : {}), ...(bootstrap ? { bootstrap } : {}) };
}
