import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { UserSessions } from '../lambdas/core/access/user-sessions.ts';
import { ValidationError } from '../lambdas/core/errors.ts';
import { DEFAULT_RISK_POLICY } from '../lambdas/core/risk/policy.ts';
import { NO_SSF_TRANSMITTERS } from '../lambdas/core/ssf/transmitters.ts';
import type { ActionFactory } from './cards.ts';
import { print } from './output.ts';
import type { Target } from './target.ts';

const SESSION_COLUMNS = ['id', 'kind', 'clientId', 'ip', 'country', 'userAgent', 'score', 'decision', 'reasons'];

function sessionsOf(target: Target): UserSessions {
  if (!target.services.userSessions) throw new Error('sessions need the state table');
  return target.services.userSessions;
}

/** The policy document: a file, or standard input for `-`. */
function readPolicy(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError(`${file === '-' ? 'standard input' : file} is not JSON`);
  }
}

/** Token protection: `risk-policy show|set`, `ssf-transmitters show|set`, `user sessions`, `user end-session`. */
export function addRiskCommands(program: Command, user: Command, action: ActionFactory): void {
  const policy = program.command('risk-policy').description("show or replace a tenant's token-protection risk policy (score bands, signal weights, overrides)");
  policy
    .command('show')
    .description('print the policy (the defaults until one is set), as JSON')
    .argument('<tenant>', 'tenant id')
    .action(
      action(async (target, _json, tenantId: string) => {
        print((await target.services.tenants.get(tenantId)).riskPolicy ?? DEFAULT_RISK_POLICY, [], true);
      }),
    );
  policy
    .command('set')
    .description('replace the policy with a JSON document (validated whole; each bad field is named)')
    .argument('<tenant>', 'tenant id')
    .requiredOption('--file <file>', 'the policy as JSON, or - for standard input')
    .addHelpText(
      'after',
      '\nExample:\n  echo \'{"bands":{"stepUp":30,"deny":70},"overrides":[{"audience":"saml:https://payroll.example","bands":{"stepUp":10,"deny":40}}]}\' | cloudcard risk-policy set acme --file -',
    )
    .action(
      action(async (target, _json, tenantId: string, o: { file: string }) => {
        print(await target.services.tenants.setRiskPolicy(tenantId, readPolicy(o.file)), [], true);
      }),
    );
  const ssf = program.command('ssf-transmitters').description("show or replace a tenant's Shared Signals transmitters (issuer, jwks_uri or jwks, audience)");
  ssf
    .command('show')
    .description('print the transmitters, as JSON')
    .argument('<tenant>', 'tenant id')
    .action(
      action(async (target, _json, tenantId: string) => {
        print((await target.services.tenants.get(tenantId)).ssfTransmitters ?? NO_SSF_TRANSMITTERS, [], true);
      }),
    );
  ssf
    .command('set')
    .description('replace the transmitters with a JSON document (validated whole; each bad field is named)')
    .argument('<tenant>', 'tenant id')
    .requiredOption('--file <file>', 'the transmitters as JSON, or - for standard input')
    .addHelpText(
      'after',
      '\nExample:\n  echo \'{"transmitters":[{"issuer":"https://idp.example","jwks_uri":"https://idp.example/jwks","audience":"https://cloudcard.example/t/acme"}]}\' | cloudcard ssf-transmitters set acme --file -',
    )
    .action(
      action(async (target, _json, tenantId: string, o: { file: string }) => {
        print(await target.services.tenants.setSsfTransmitters(tenantId, readPolicy(o.file)), [], true);
      }),
    );
  user
    .command('sessions')
    .description("list a user's SSO sessions and refresh-token families with their last context and risk decision")
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .action(
      action(async (target, json, tenantId: string, username: string) => {
        await target.services.users.get(tenantId, username);
        print(await sessionsOf(target).list(tenantId, username), SESSION_COLUMNS, json);
      }),
    );
  user
    .command('end-session')
    .description("end one of a user's SSO sessions, or revoke a refresh-token family, by the id `user sessions` shows")
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .argument('<id>', 'session id (sid) or family id (grant id)')
    .action(
      action(async (target, json, tenantId: string, username: string, id: string) => {
        await target.services.users.get(tenantId, username);
        await sessionsOf(target).end(tenantId, username, id);
        if (json) print({ tenant: tenantId, username, id, ended: true }, [], true);
        else process.stdout.write(`ended ${id} of ${username} in tenant ${tenantId}\n`);
      }),
    );
}
