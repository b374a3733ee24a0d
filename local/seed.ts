import { randomBytes } from 'node:crypto';
import { ConflictError } from '../lambdas/core/errors.ts';
import type { AdminClientCredentials } from '../lambdas/core/directory/admin-client.ts';
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

/**
 * First-start seeding of the embedded stack: tenant `demo`, user `alice`, and one admin client. Each
 * step is a conditional create, so a restart (or two starts racing) never duplicates or overwrites.
 */
export async function seedDemo(services: DirectoryServices, options: { demoPassword?: string; needBootstrap: boolean }): Promise<SeedResult> {
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
  const bootstrap = options.needBootstrap ? await services.adminClients.create() : undefined;
  return { createdTenant, ...(generatedPassword ? { generatedPassword } : {}), ...(bootstrap ? { bootstrap } : {}) };
}
