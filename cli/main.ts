import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { bashCompletion } from './completion.ts';
import { describeFailure, EXIT, renderFailure } from './errors.ts';
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { ValidationError } from '../lambdas/core/errors.ts';
import { print } from './output.ts';
import { parseAttributeRule, USER_FIELDS, type AttributeRule } from '../lambdas/core/saml/attribute-mapping.ts';
import { parseSigningChoice, type SigningChoice } from '../lambdas/core/saml/signing-choice.ts';
import { oidcSettingsOf, type TrustedIssuer } from '../lambdas/core/directory/tenant.ts';
import { OutboundCallError } from '../lambdas/core/outbound/url-policy.ts';
import { MAX_METADATA_BYTES } from '../lambdas/core/saml/xml.ts';
import { KEK_OUTPUT, openTarget, type Target, type TargetOptions } from './target.ts';
import { addCardCommands, algorithmName, slotList } from './cards.ts';
import { addRiskCommands } from './risk.ts';
import { addBrandingCommands } from './branding.ts';
import { addDeviceCommands } from './devices.ts';
import { addCaCommands } from './ca.ts';
import type { LoginThrottle } from '../lambdas/core/portal/login-throttle.ts';
import type { TotpEnrolment } from '../lambdas/core/portal/totp.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_METADATA } from '../lambdas/core/oidc/client.ts';
import { INITIAL_ACCESS_TOKEN_SECONDS, type InitialAccessTokens } from '../lambdas/core/oidc/registration-tokens.ts';

const TENANT_COLUMNS = ['id', 'displayName', 'status', 'custody', 'updatedAt'];
const USER_COLUMNS = ['username', 'email', 'displayName', 'status', 'updatedAt'];

const integer = (value: string): number => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Runs one command against the selected target, records it in the audit trail if it changes anything, and always closes the target. */
function action<A extends unknown[]>(program: Command, run: (target: Target, json: boolean, ...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const globals = program.opts<TargetOptions & { json?: boolean }>();
    const target = await openTarget(globals);
    const command = args[args.length - 1] as Command;
    let outcome = 0;
    try {
      await run(target, Boolean(globals.json), ...args);
      // A command that finished but not fully (user import with rows refused) says so by its exit code.
      outcome = typeof process.exitCode === 'number' ? process.exitCode : 0;
    } catch (error) {
      outcome = describeFailure(error).exitCode;
      throw error;
    } finally {
      try {
        await recordAudit(target, command, args, outcome, globals);
      } finally {
        await target.close();
      }
    }
  };
}

/** Commands that only read: everything else is an administrative change and goes into the audit trail. */
const READ_ONLY_COMMANDS = new Set(['list', 'show', 'sessions', 'crl', 'completion', 'export']);
/** Where changes that belong to no tenant (platform admin clients) are recorded; no tenant id can look like it. */
export const PLATFORM_AUDIT = '_platform';

/**
 * The CLI's one audit writer (the admin API's is its router guard): the command path, its arguments as
 * the target (identifiers only: secrets are read from stdin or printed, never arguments), the exit code.
 * The operator is named as this machine knows them; on AWS, CloudTrail has the IAM principal of the same
 * calls. A failure to record is reported on stderr, never hides the command's own outcome.
 */
async function recordAudit(target: Target, command: Command, args: unknown[], outcome: number, globals: TargetOptions): Promise<void> {
  if (!target.services.audit || READ_ONLY_COMMANDS.has(command.name())) return;
  const names: string[] = [];
  for (let c: Command | null = command; c && c.parent; c = c.parent) names.unshift(c.name());
  const argumentNames = command.registeredArguments.map((argument) => argument.name());
  const targetIds = Object.fromEntries(argumentNames.map((name, i) => [name, args[i]]).filter(([, value]) => typeof value === 'string')) as Record<
    string,
    string
  >;
  const tenant = targetIds['tenant'] ?? (names[0] === 'tenant' ? targetIds['id'] : undefined) ?? PLATFORM_AUDIT;
  const where = globals.stack ? `aws:${globals.stack}${process.env['AWS_PROFILE'] ? `:${process.env['AWS_PROFILE']}` : ''}` : 'local';
  try {
    await target.services.audit.record(tenant, {
      actor: { kind: 'operator', id: `${operatorAccount()}@${hostname()} (${where})` },
      via: 'cli',
      action: `cloudcard ${names.join(' ')}`,
      target: targetIds,
      outcome,
    });
  } catch (error) {
    process.stderr.write(`warning: the change was not recorded in the audit trail: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

/** The local account; a container user without a passwd entry has none, so its USER or uid stands in. */
function operatorAccount(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env['USER'] ?? `uid ${process.getuid?.() ?? '?'}`;
  }
}

export function buildProgram(): Command {
  const program = new Command('cloudcard')
    .description('Operate cloudcard: tenants, users, cards, OAuth clients and signing keys, on the local stack or on a deployment.')
    .version(CLOUDCARD_VERSION, '-V, --version', 'print the cloudcard version')
    .option('--stack <name>', 'work against a deployed stack (e.g. Cloudcard-prod) with your AWS credentials')
    .option('--region <region>', 'AWS region of the stack (default: from your AWS configuration)')
    .option('--data-dir <dir>', 'data directory of the local stack', process.env['CLOUDCARD_DATA_DIR'] ?? '.data')
    .option('--json', 'print JSON instead of a table')
    .configureHelp({ showGlobalOptions: true });

  const tenant = program.command('tenant').description('create, list, show, update and delete tenants');
  tenant
    .command('create')
    .description('create a tenant')
    .argument('<id>', 'tenant id: lower-case letters, digits and inner hyphens')
    .option('--display-name <name>', 'human-readable name')
    .option('--custody <mode>', 'card key custody: wrapped or kms-resident')
    .action(
      action(program, async (target, json, id: string, options: { displayName?: string; custody?: string }) => {
        print(await target.services.tenants.create({ id, ...options }), TENANT_COLUMNS, json);
      }),
    );
  tenant
    .command('list')
    .description('list every tenant')
    .action(
      action(program, async (target, json) => {
        const tenants = await everyPage((cursor) => target.services.tenants.list(cursor).then((p) => ({ items: p.tenants, cursor: p.cursor })));
        print(tenants as unknown as Record<string, unknown>[], TENANT_COLUMNS, json);
      }),
    );
  tenant
    .command('show')
    .description("show a tenant's full configuration")
    .argument('<id>', 'tenant id')
    .action(
      action(program, async (target, _json, id: string) => {
        print(await target.services.tenants.get(id), [], true);
      }),
    );
  tenant
    .command('update')
    .description("change a tenant's settings (only the options given)")
    .argument('<id>', 'tenant id')
    .option('--display-name <name>', 'human-readable name')
    .option('--status <status>', 'active or disabled')
    .option('--custody <mode>', 'card key custody: wrapped or kms-resident')
    .option('--pin-min-length <n>', 'PIN minimum length (6-8)', integer)
    .option('--pin-max-length <n>', 'PIN maximum length (6-8)', integer)
    .option('--pin-retries <n>', 'PIN tries before the PIN blocks', integer)
    .option('--puk-retries <n>', 'PUK tries before the card blocks', integer)
    .option('--pin-change-on-first-use <yes|no>', 'require a PIN change on first use')
    .option('--sso-seconds <n>', 'SSO session lifetime', integer)
    .option('--card-session-seconds <n>', 'card session lifetime', integer)
    .option('--refresh-token-seconds <n>', 'refresh token lifetime', integer)
    .option('--card-alg <algorithm>', 'default key algorithm of new cards: rsa2048 | rsa3072 | rsa4096 | p256 | p384', algorithmName)
    .option('--card-algs <list>', 'the algorithms cards may use, comma-separated', (value: string) => value.split(',').map((a) => algorithmName(a.trim())))
    .option('--card-slots <list>', 'default key slots of new cards, comma-separated (9a,9c,9d,9e)', slotList)
    .option('--management-alg <algorithm>', 'management key algorithm of new cards: 3des | aes128 | aes192 | aes256')
    .option('--trust-issuer <issuer>', 'trust an OpenID provider for the card API (with --jwks-uri and --audience; replaces its earlier entry)')
    .option('--jwks-uri <uri>', "the trusted issuer's JWKS (https)")
    .option('--audience <aud>', 'the audience its tokens must name')
    .option('--user-claim <claim>', 'the claim naming the tenant user (default sub)')
    .option('--untrust-issuer <issuer>', 'stop trusting an OpenID provider')
    .option('--registration <mode>', 'dynamic client registration (RFC 7591): closed (default) | open | initial-access-token')
    .option('--password-grant <yes|no>', 'accept the password grant from operator-made clients that have it (default no; RFC 9700 says it MUST NOT be used)')
    .action(
      action(program, async (target, json, id: string, o: Record<string, string | number | string[] | undefined>) => {
        const current = await target.services.tenants.get(id);
        const pin = pickDefined({
          minLength: o['pinMinLength'],
          maxLength: o['pinMaxLength'],
          retries: o['pinRetries'],
          pukRetries: o['pukRetries'],
          changeOnFirstUse: yesNo(o['pinChangeOnFirstUse']),
        });
        const lifetimes = pickDefined({
          ssoSeconds: o['ssoSeconds'],
          cardSessionSeconds: o['cardSessionSeconds'],
          refreshTokenSeconds: o['refreshTokenSeconds'],
        });
        const cards = pickDefined({
          defaultAlgorithm: o['cardAlg'],
          allowedAlgorithms: o['cardAlgs'],
          defaultSlots: o['cardSlots'],
          managementAlgorithm: o['managementAlg'],
        });
        const update = pickDefined({
          displayName: o['displayName'],
          status: o['status'],
          custody: o['custody'],
          pinPolicy: Object.keys(pin).length ? { ...current.pinPolicy, ...pin } : undefined,
          sessionLifetimes: Object.keys(lifetimes).length ? { ...current.sessionLifetimes, ...lifetimes } : undefined,
          cards: Object.keys(cards).length ? cards : undefined,
          oidc: oidcUpdate(o),
          trustedIssuers: trustedIssuersUpdate(current.trustedIssuers ?? [], o),
        });
        print(await target.services.tenants.update(id, update), TENANT_COLUMNS, json);
      }),
    );

  tenant
    .command('export')
    .description('print a tenant as a versioned JSON document (settings, users, clients, SPs); no secret is in it: see README, Tenant export')
    .argument('<id>', 'tenant id')
    .action(
      action(program, async (target, _json, id: string) => {
        print(await target.services.tenantTransfer.export(id), [], true);
      }),
    );
  tenant
    .command('import')
    .description('create a new tenant from an export (all or nothing); prints the new secrets of confidential clients once')
    .argument('<id>', 'the new tenant id (it must not exist)')
    .argument('<file>', 'the export (JSON), or - for standard input')
    .action(
      action(program, async (target, json, id: string, file: string) => {
        const text = file === '-' ? await readStdin() : readFileSync(file, 'utf8');
        let document: unknown;
        try {
          document = JSON.parse(text);
        } catch {
          throw new ValidationError(`${file === '-' ? 'standard input' : file} is not JSON`);
        }
        const imported = await target.services.tenantTransfer.import(id, document);
        if (json) return print(imported, [], true);
        process.stdout.write(
          `imported tenant ${id}: ${imported.users} user(s), ${imported.clients.length} client(s), ${imported.serviceProviders} service provider(s)\n`,
        );
        for (const c of imported.clients.filter((c) => c.client_secret))
          process.stdout.write(`client ${c.client_id} new secret (shown once): ${c.client_secret}\n`);
      }),
    );
  tenant
    .command('delete')
    .description(
      'delete a tenant and everything it owns: users, cards (keys destroyed), clients, SPs; --dry-run lists what would go; repeat it to finish an interrupted delete',
    )
    .argument('<id>', 'tenant id')
    .option('--dry-run', 'list what would be deleted, change nothing')
    .option('--yes', 'really delete (required without --dry-run)')
    .action(
      action(program, async (target, json, id: string, o: { dryRun?: boolean; yes?: boolean }) => {
        if (!o.dryRun && !o.yes) throw new ValidationError(`deleting tenant ${id} cannot be undone: look first with --dry-run, then confirm with --yes`);
        const plan = o.dryRun ? await target.services.tenantRemoval.plan(id) : await target.services.tenantRemoval.remove(id);
        if (json) return print({ dryRun: Boolean(o.dryRun), ...plan }, [], true);
        process.stdout.write(
          [
            o.dryRun ? `would delete tenant ${id}:` : `deleted tenant ${id}:`,
            `  users:              ${plan.users}`,
            `  cards:              ${plan.cards} (keys: ${plan.cardKeys.kmsResident} KMS-resident scheduled for deletion, ${plan.cardKeys.wrapped} wrapped forgotten)`,
            `  card CA/list keys:  ${plan.authorityKeys}`,
            `  clients:            ${plan.clients}`,
            `  service providers:  ${plan.serviceProviders}`,
            `  items:              ${plan.items.directory} directory, ${plan.items.state} state`,
            `  kept:               ${plan.kept.join('; ')}`,
            '',
          ].join('\n'),
        );
      }),
    );

  const user = program.command('user').description('add, list, update, disable and enable users; set passwords, enrol TOTP, lift sign-in locks');
  user
    .command('add')
    .description('add a user to a tenant')
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .option('--email <address>', 'e-mail address')
    .option('--display-name <name>', 'human-readable name')
    .option('--password-stdin', 'read the initial password from standard input (never from the command line)')
    .action(
      action(program, async (target, json, tenantId: string, username: string, o: { email?: string; displayName?: string; passwordStdin?: boolean }) => {
        const password = o.passwordStdin ? await readStdin() : undefined;
        const added = await target.services.users.add(tenantId, pickDefined({ username, email: o.email, displayName: o.displayName, password }));
        print(added as unknown as Record<string, unknown>, USER_COLUMNS, json);
      }),
    );
  user
    .command('list')
    .description("list a tenant's users")
    .argument('<tenant>', 'tenant id')
    .action(
      action(program, async (target, json, tenantId: string) => {
        const users = await everyPage((cursor) => target.services.users.list(tenantId, { cursor }).then((p) => ({ items: p.users, cursor: p.cursor })));
        print(users as unknown as Record<string, unknown>[], USER_COLUMNS, json);
      }),
    );
  user
    .command('update')
    .description("change a user's e-mail address or display name")
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .option('--email <email>', 'new e-mail address')
    .option('--remove-email', 'remove the e-mail address')
    .option('--display-name <name>', 'new display name')
    .action(
      action(program, async (target, json, tenantId: string, username: string, o: { email?: string; removeEmail?: boolean; displayName?: string }) => {
        if (o.email !== undefined && o.removeEmail) throw new ValidationError('give --email or --remove-email, not both');
        const change = {
          ...(o.removeEmail ? { email: null } : o.email !== undefined ? { email: o.email } : {}),
          ...(o.displayName !== undefined ? { displayName: o.displayName } : {}),
        };
        print((await target.services.users.update(tenantId, username, change)) as unknown as Record<string, unknown>, USER_COLUMNS, json);
      }),
    );
  user
    .command('disable')
    .description('disable a user (they can no longer sign in)')
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .action(
      action(program, async (target, json, tenantId: string, username: string) => {
        print((await target.services.users.disable(tenantId, username)) as unknown as Record<string, unknown>, USER_COLUMNS, json);
      }),
    );
  user
    .command('enable')
    .description('enable a disabled user again (sessions and tokens from before the disable stay revoked)')
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .action(
      action(program, async (target, json, tenantId: string, username: string) => {
        print((await target.services.users.enable(tenantId, username)) as unknown as Record<string, unknown>, USER_COLUMNS, json);
      }),
    );
  user
    .command('import')
    .description(
      'create users in bulk from a CSV file (header row: username,email,displayName); a bad row refuses the file with every error and its line, nothing written',
    )
    .argument('<tenant>', 'tenant id')
    .argument('<file>', 'the CSV file (- for standard input)')
    .action(
      action(program, async (target, json, tenantId: string, file: string) => {
        await target.services.tenants.get(tenantId);
        const result = await target.services.userImport.run(tenantId, file === '-' ? await readStdin() : readFileSync(file, 'utf8'));
        if (json) print(result, [], true);
        else
          process.stdout.write(
            `created ${result.created} user(s) in tenant ${tenantId}\n${result.errors.map((e) => `line ${e.line}: ${e.message}\n`).join('')}`,
          );
        // Rows refused because the user exists: the rest was imported, the exit code says not all was.
        if (result.errors.length) process.exitCode = EXIT.conflict;
      }),
    );
  user
    .command('show')
    .description('show a user with their cards and agent devices')
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .action(
      action(program, async (target, json, tenantId: string, username: string) => {
        const account = await target.services.accounts.show(tenantId, username);
        if (json) return print(account, [], true);
        const { cards, devices, ...profile } = account;
        print(profile, USER_COLUMNS, false);
        process.stdout.write(`\ncards (${cards.length}):\n`);
        if (cards.length)
          print(
            cards.map((c) => ({ id: c.id, label: c.label, custody: c.custody, slots: c.slots.map((s) => s.slot).join(',') })),
            ['id', 'label', 'custody', 'slots'],
            false,
          );
        process.stdout.write(`\ndevices (${devices.length}):\n`);
        if (devices.length) print(devices, ['id', 'os', 'agentVersion', 'lastSeenAt'], false);
      }),
    );
  user
    .command('delete')
    .description(
      'delete a user for good: sessions and token families revoked, cards deleted (certificates revoked, keys destroyed), devices forgotten, username and e-mail freed; repeat it to finish an interrupted delete',
    )
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .action(
      action(program, async (target, json, tenantId: string, username: string) => {
        const deleted = await target.services.accounts.delete(tenantId, username);
        if (json) print({ tenant: tenantId, username, deleted: true, ...deleted }, [], true);
        else process.stdout.write(`deleted ${username} from tenant ${tenantId} (${deleted.cards} card(s), ${deleted.devices} device(s))\n`);
      }),
    );
  user
    .command('set-password')
    .description("set or replace a user's password, read from standard input (never from the command line)")
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .option('--password-stdin', 'read the password from standard input (required): at least 12 characters')
    .addHelpText('after', '\nExample:\n  printf %s "$PASSWORD" | cloudcard user set-password acme carol --password-stdin')
    .action(
      action(program, async (target, json, tenantId: string, username: string, o: { passwordStdin?: boolean }) => {
        if (!o.passwordStdin) throw new ValidationError('the password is read only from standard input: pass --password-stdin and pipe it in');
        const updated = await target.services.users.setPassword(tenantId, username, await readStdin());
        print(updated as unknown as Record<string, unknown>, USER_COLUMNS, json);
      }),
    );
  user
    .command('unlock')
    .description('lift the sign-in lock on a user (forgets their recent failed sign-ins)')
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .action(
      action(program, async (target, json, tenantId: string, username: string) => {
        await target.services.tenants.get(tenantId);
        await target.services.users.get(tenantId, username);
        await throttleOf(target).clear(tenantId, username);
        if (json) print({ tenant: tenantId, username, unlocked: true }, [], true);
        else process.stdout.write(`unlocked ${username} in tenant ${tenantId}: they may sign in again now\n`);
      }),
    );

  const totp = user.command('totp').description("enrol or remove a user's authenticator app (TOTP one-time codes)");
  totp
    .command('enroll')
    .description('give a user a new TOTP secret (replacing any earlier one) and print it once, to scan into an authenticator app')
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .option('--issuer <label>', "the name the authenticator app shows (default: the tenant's display name)")
    .addHelpText('after', `\n${KEK_NOTE}`)
    .action(
      action(program, async (target, json, tenantId: string, username: string, o: { issuer?: string }) => {
        const tenant = await target.services.tenants.get(tenantId);
        await target.services.users.get(tenantId, username);
        const issuer = o.issuer ?? tenant.displayName.replace(/\s*:\s*/g, ' ');
        const enrolment = await totpOf(target).enroll(tenantId, username, issuer);
        if (json) {
          print({ tenant: tenantId, username, uri: enrolment.uri, secretBase32: enrolment.secretBase32 }, [], true);
          return;
        }
        process.stdout.write(
          [
            `TOTP enrolled for ${username} in tenant ${tenantId}. The secret is shown only this once:`,
            '',
            `  URI:    ${enrolment.uri}`,
            `  Secret: ${enrolment.secretBase32}`,
            '',
            'Scan the URI as a QR code with an authenticator app (or type the secret in: time-based, SHA1,',
            '6 digits, 30 seconds). Hand it over on a safe channel; enrolling again replaces it.',
            '',
          ].join('\n'),
        );
      }),
    );
  totp
    .command('remove')
    .description("remove a user's TOTP enrolment (their authenticator's codes stop working)")
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .addHelpText('after', `\nWith --stack, this reads the stack's ${KEK_OUTPUT} output but makes no KMS call.`)
    .action(
      action(program, async (target, json, tenantId: string, username: string) => {
        await target.services.tenants.get(tenantId);
        const removed = await totpOf(target).remove(tenantId, username);
        if (json) print({ tenant: tenantId, username, removed }, [], true);
        else
          process.stdout.write(
            removed ? `removed the TOTP enrolment of ${username} in tenant ${tenantId}\n` : `${username} in tenant ${tenantId} had no TOTP enrolment\n`,
          );
      }),
    );
  const CLIENT_COLUMNS = ['client_id', 'client_name', 'token_endpoint_auth_method', 'grant_types', 'first_party'];
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  const client = program.command('client').description('add, list, show, update and remove OAuth/OIDC clients of a tenant; rotate their secrets');
  client
    .command('add')
    .description('register a first-party client (no consent screen); prints its secret once')
    .argument('<tenant>', 'tenant id')
    .requiredOption('--name <name>', 'display name shown to users')
    .option('--redirect-uri <uri>', 'redirect URI (repeat for several)', collect)
    .option('--post-logout-redirect-uri <uri>', 'post-logout redirect URI (repeat for several)', collect)
    .option(
      '--grant <type>',
      'grant type: authorization_code, refresh_token, client_credentials, password, urn:ietf:params:oauth:grant-type:device_code (repeat)',
      collect,
    )
    .option('--auth-method <method>', 'none | client_secret_basic | client_secret_post | private_key_jwt', 'client_secret_basic')
    .option('--scope <scope>', 'allowed scopes, space separated (admin: the tenant admin API, for a client_credentials-only client)')
    .option('--jwks-file <file>', 'public JWK set (JSON) for private_key_jwt')
    .option('--dpop', 'require DPoP-bound access tokens')
    .option(
      '--backchannel-logout-uri <uri>',
      'OIDC Back-Channel Logout endpoint: gets a logout token when a session is ended for the user (risk deny, administrator, Shared Signals)',
    )
    .option('--backchannel-logout-session-required', 'the client needs sid in every logout token')
    .action(
      action(
        program,
        async (
          target,
          json,
          tenantId: string,
          o: {
            name: string;
            redirectUri?: string[];
            postLogoutRedirectUri?: string[];
            grant?: string[];
            authMethod: string;
            scope?: string;
            jwksFile?: string;
            dpop?: boolean;
            backchannelLogoutUri?: string;
            backchannelLogoutSessionRequired?: boolean;
          },
        ) => {
          await target.services.tenants.get(tenantId);
          const metadata = pickDefined({
            client_name: o.name,
            redirect_uris: o.redirectUri,
            post_logout_redirect_uris: o.postLogoutRedirectUri,
            grant_types: o.grant,
            token_endpoint_auth_method: o.authMethod,
            scope: o.scope,
            jwks: o.jwksFile ? (JSON.parse(readFileSync(o.jwksFile, 'utf8')) as unknown) : undefined,
            dpop_bound_access_tokens: o.dpop ? true : undefined,
            backchannel_logout_uri: o.backchannelLogoutUri,
            backchannel_logout_session_required: o.backchannelLogoutSessionRequired ? true : undefined,
          });
          const issued = await target.services.clients.create(tenantId, metadata, 'admin');
          if (json) {
            print({ ...issued.client, ...(issued.clientSecret ? { client_secret: issued.clientSecret } : {}) }, [], true);
            return;
          }
          print(issued.client, CLIENT_COLUMNS, false);
          if (issued.clientSecret) process.stdout.write(`\nclient secret (shown once, stored only as a hash): ${issued.clientSecret}\n`);
        },
      ),
    );
  client
    .command('add-agent')
    .description(
      `add the client agent's well-known public client (${AGENT_CLIENT_ID}: PKCE, loopback redirect, device flow, refresh, scopes ${AGENT_CLIENT_METADATA.scope}); discovery then names it, and cloudcard-agent login uses it`,
    )
    .argument('<tenant>', 'tenant id')
    .action(
      action(program, async (target, json, tenantId: string) => {
        await target.services.tenants.get(tenantId);
        const { client: agent, created } = await target.services.clients.addAgent(tenantId);
        if (json) print({ ...agent, created }, [], true);
        else
          process.stdout.write(
            created
              ? `added the agent client ${agent.client_id} to tenant ${tenantId}\n`
              : `tenant ${tenantId} already has the agent client ${agent.client_id}; left as it is\n`,
          );
      }),
    );
  client
    .command('resources')
    .description(
      "set the services (RFC 8707 resource URIs) a client may get access tokens for, e.g. the agent's `cloudcard-agent token --resource`; none given: none allowed",
    )
    .argument('<tenant>', 'tenant id')
    .argument('<clientId>', 'client id')
    .argument('[resources...]', 'absolute https URIs without fragment (http only on loopback)')
    .action(
      action(program, async (target, json, tenantId: string, clientId: string, resources: string[]) => {
        const updated = await target.services.clients.setResources(tenantId, clientId, resources);
        if (json) print(updated, [], true);
        else process.stdout.write(`client ${clientId} may get tokens for: ${updated.resources.length ? updated.resources.join(' ') : 'no other service'}\n`);
      }),
    );
  const registrationToken = client
    .command('registration-token')
    .description('initial access tokens (RFC 7591 §3) for a tenant whose registration setting is initial-access-token');
  registrationToken
    .command('create')
    .description('make an initial access token; prints it once (stored only as a hash)')
    .argument('<tenant>', 'tenant id')
    .option('--expires <duration>', 'lifetime: seconds, or a number with s, m, h or d (1m to 90d)', duration, INITIAL_ACCESS_TOKEN_SECONDS.default)
    .option('--single-use', 'spent by the first registration it admits')
    .action(
      action(program, async (target, json, tenantId: string, o: { expires: number; singleUse?: boolean }) => {
        const tenant = await target.services.tenants.get(tenantId);
        const issued = await initialAccessTokensOf(target).issue(tenantId, { expiresInSeconds: o.expires, singleUse: Boolean(o.singleUse) });
        const expiresAt = new Date(issued.record.expiresAt * 1000).toISOString();
        if (json) {
          print({ ...issued.record, expiresAt, token: issued.token }, [], true);
          return;
        }
        print({ ...issued.record, expiresAt }, ['id', 'expiresAt', 'singleUse'], false);
        process.stdout.write(`\ninitial access token (shown once, stored only as a hash): ${issued.token}\n`);
        const mode = oidcSettingsOf(tenant).registration;
        if (mode !== 'initial-access-token')
          process.stdout.write(
            `note: tenant ${tenantId} registration is ${mode}; tokens are asked for only with: cloudcard tenant update ${tenantId} --registration initial-access-token\n`,
          );
      }),
    );
  registrationToken
    .command('list')
    .description("list a tenant's live initial access tokens (ids and expiry, never the tokens)")
    .argument('<tenant>', 'tenant id')
    .action(
      action(program, async (target, json, tenantId: string) => {
        await target.services.tenants.get(tenantId);
        const tokens = await initialAccessTokensOf(target).list(tenantId);
        print(
          tokens.map((t) => ({ ...t, expiresAt: new Date(t.expiresAt * 1000).toISOString() })),
          ['id', 'expiresAt', 'singleUse'],
          json,
        );
      }),
    );
  registrationToken
    .command('revoke')
    .description('end an initial access token before it expires')
    .argument('<tenant>', 'tenant id')
    .argument('<id>', 'token id (from create or list)')
    .action(
      action(program, async (target, _json, tenantId: string, id: string) => {
        await initialAccessTokensOf(target).revoke(tenantId, id);
        process.stdout.write(`revoked initial access token ${id}\n`);
      }),
    );
  client
    .command('list')
    .description("list a tenant's clients")
    .argument('<tenant>', 'tenant id')
    .action(
      action(program, async (target, json, tenantId: string) => {
        await target.services.tenants.get(tenantId);
        const clients = await everyPage((cursor) => target.services.clients.list(tenantId, cursor).then((p) => ({ items: p.clients, cursor: p.cursor })));
        print(clients, CLIENT_COLUMNS, json);
      }),
    );
  client
    .command('show')
    .description("show a client's metadata")
    .argument('<tenant>', 'tenant id')
    .argument('<clientId>', 'client id')
    .action(
      action(program, async (target, _json, tenantId: string, clientId: string) => {
        print(await target.services.clients.get(tenantId, clientId), [], true);
      }),
    );
  client
    .command('update')
    .description("change a client's metadata: only the options given (a list option replaces the whole list); validated like a new client")
    .argument('<tenant>', 'tenant id')
    .argument('<clientId>', 'client id')
    .option('--name <name>', 'display name shown to users')
    .option('--redirect-uri <uri>', 'redirect URI (repeat for several; replaces the list)', collect)
    .option('--post-logout-redirect-uri <uri>', 'post-logout redirect URI (repeat for several; replaces the list)', collect)
    .option('--grant <type>', 'grant type (repeat; replaces the list)', collect)
    .option('--scope <scope>', 'allowed scopes, space separated')
    .option('--jwks-file <file>', 'public JWK set (JSON) for private_key_jwt')
    .option('--dpop <yes|no>', 'require DPoP-bound access tokens')
    .option('--patch-file <file>', 'a JSON object of client metadata (RFC 7591 names) to apply; null removes a member')
    .action(
      action(
        program,
        async (
          target,
          json,
          tenantId: string,
          clientId: string,
          o: {
            name?: string;
            redirectUri?: string[];
            postLogoutRedirectUri?: string[];
            grant?: string[];
            scope?: string;
            jwksFile?: string;
            dpop?: string;
            patchFile?: string;
          },
        ) => {
          await target.services.tenants.get(tenantId);
          const patch = {
            ...(o.patchFile ? (JSON.parse(readFileSync(o.patchFile, 'utf8')) as Record<string, unknown>) : {}),
            ...pickDefined({
              client_name: o.name,
              redirect_uris: o.redirectUri,
              post_logout_redirect_uris: o.postLogoutRedirectUri,
              grant_types: o.grant,
              scope: o.scope,
              jwks: o.jwksFile ? (JSON.parse(readFileSync(o.jwksFile, 'utf8')) as unknown) : undefined,
              dpop_bound_access_tokens: yesNo(o.dpop, '--dpop'),
            }),
          };
          if (!Object.keys(patch).length) throw new ValidationError('nothing to change: give at least one option (see --help)');
          const updated = await target.services.clients.update(tenantId, clientId, patch);
          print(updated, json ? [] : CLIENT_COLUMNS, json);
        },
      ),
    );
  client
    .command('rotate-secret')
    .description('give a confidential client a new secret, printed once; the old one stops at once, or after --grace')
    .argument('<tenant>', 'tenant id')
    .argument('<clientId>', 'client id')
    .option('--grace <duration>', 'how long the old secret keeps working: seconds, or a number with s, m, h or d (at most 7d)', duration, 0)
    .action(
      action(program, async (target, json, tenantId: string, clientId: string, o: { grace: number }) => {
        await target.services.tenants.get(tenantId);
        const rotated = await target.services.clients.rotateSecret(tenantId, clientId, o.grace);
        if (json) {
          print(
            {
              client_id: clientId,
              client_secret: rotated.clientSecret,
              ...(rotated.previousSecretExpiresAt ? { previous_secret_expires_at: rotated.previousSecretExpiresAt } : {}),
            },
            [],
            true,
          );
          return;
        }
        process.stdout.write(`new client secret (shown once, stored only as a hash): ${rotated.clientSecret}\n`);
        process.stdout.write(
          rotated.previousSecretExpiresAt ? `the old secret keeps working until ${rotated.previousSecretExpiresAt}\n` : 'the old secret no longer works\n',
        );
      }),
    );
  client
    .command('remove')
    .description('remove a client (its tokens stop working when they expire; refresh is refused at once)')
    .argument('<tenant>', 'tenant id')
    .argument('<clientId>', 'client id')
    .action(
      action(program, async (target, _json, tenantId: string, clientId: string) => {
        await target.services.clients.remove(tenantId, clientId);
        process.stdout.write(`removed client ${clientId}\n`);
      }),
    );

  const admin = program.command('admin').description('platform admin clients: the credentials of the admin API (HTTP Basic)');
  admin
    .command('bootstrap')
    .description('create a platform admin client and print its secret once (the deployed counterpart of the local bootstrap.json)')
    .action(
      action(program, async (target, json) => {
        const created = await target.services.adminClients.create();
        if (json) print(created, [], true);
        else
          process.stdout.write(
            `client id:     ${created.clientId}\nclient secret: ${created.clientSecret}\n(shown once: store it now; use it as HTTP Basic credentials on {ApiUrl}/t/{tenant}/admin/v1/)\n`,
          );
      }),
    );
  admin
    .command('list')
    .description('list platform admin clients (ids and creation times, never secrets)')
    .action(
      action(program, async (target, json) => {
        const clients = await everyPage((cursor) => target.services.adminClients.list(cursor).then((p) => ({ items: p.clients, cursor: p.cursor })));
        print(clients, ['clientId', 'createdAt'], json);
      }),
    );
  admin
    .command('remove')
    .description('remove a platform admin client (its credentials stop working at once)')
    .argument('<clientId>', 'admin client id')
    .action(
      action(program, async (target, _json, clientId: string) => {
        await target.services.adminClients.remove(clientId);
        process.stdout.write(`removed admin client ${clientId}\n`);
      }),
    );

  program
    .command('audit')
    .description('the audit trail of administrative changes')
    .command('list')
    .description(`list a tenant's changes, newest first (admin API and CLI; "${PLATFORM_AUDIT}" for platform admin clients)`)
    .argument('<tenant>', `tenant id, or ${PLATFORM_AUDIT}`)
    .option('--limit <n>', 'at most this many events (1-200)', integer, 50)
    .action(
      action(program, async (target, json, tenantId: string, o: { limit: number }) => {
        if (!target.services.audit) throw new ValidationError('the audit trail needs the state table');
        const { events } = await target.services.audit.list(tenantId, { limit: o.limit });
        const rows = events.map((e) => ({
          at: e.at,
          actor: `${e.actor.kind}:${e.actor.id}`,
          via: e.via,
          action: e.action,
          target: Object.entries(e.target)
            .map(([k, v]) => `${k}=${v}`)
            .join(' '),
          outcome: e.outcome,
        }));
        if (json) print(events, [], true);
        else print(rows, ['at', 'actor', 'via', 'action', 'target', 'outcome'], false);
      }),
    );

  program
    .command('completion')
    .description('print a shell completion script (bash): source <(cloudcard completion bash)')
    .argument('<shell>', 'bash')
    .action((shell: string) => {
      if (shell !== 'bash') throw new ValidationError(`no completion for ${shell}: bash is supported`);
      process.stdout.write(bashCompletion(program));
    });

  const keys = program.command('keys').description("manage a tenant's token-signing keys");
  keys
    .command('rotate')
    .description('make the published next key current, retire the current one (still published for the overlap), and publish a new next key')
    .argument('<tenant>', 'tenant id')
    .option('--overlap-seconds <n>', 'how long the retired key stays in the JWKS (default: the longest token lifetime)', integer)
    .action(
      action(program, async (target, json, tenantId: string, o: { overlapSeconds?: number }) => {
        const tenant = await target.services.tenants.get(tenantId);
        const settings = oidcSettingsOf(tenant);
        if (settings.signingMode === 'kms')
          throw new ValidationError(`tenant ${tenantId} signs with the stack KMS key (signingMode kms); there are no tenant keys to rotate`);
        const overlap = o.overlapSeconds ?? Math.max(settings.accessTokenSeconds, settings.idTokenSeconds) + 300;
        const result = await target.services.signingKeys.rotate(tenantId, settings, overlap);
        print({ ...result, retiredPublishedForSeconds: overlap }, ['current', 'next', 'retired', 'retiredPublishedForSeconds'], json);
      }),
    );
  addCardCommands(program, (run) => action(program, run));
  addRiskCommands(program, user, (run) => action(program, run));
  addBrandingCommands(program, (run) => action(program, run));
  addDeviceCommands(user, (run) => action(program, run));
  addCaCommands(program, (run) => action(program, run));
  const SP_COLUMNS = ['entityId', 'authnRequestsSigned', 'wantAssertionsSigned', 'signing', 'createdAt'];
  /** A SAML option parser whose refusal commander reports as a bad argument. */
  const samlOption =
    <T>(parse: (value: string) => T) =>
    (value: string): T => {
      try {
        return parse(value);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    };
  const sp = program.command('sp').description('register, list, show, update and remove SAML service providers of a tenant');
  sp.command('add')
    .description('register a service provider from its SAML metadata (its ACS, keys and NameID formats come only from it)')
    .argument('<tenant>', 'tenant id')
    .requiredOption('--metadata <fileOrUrl>', 'metadata XML file, or an http(s) URL to fetch it from')
    .option(
      '--sign <what>',
      'what to sign: response, assertion or both (default; WantAssertionsSigned in the metadata always signs the assertion)',
      samlOption(parseSigningChoice),
    )
    .option(
      '--attribute <rule>',
      `release an attribute: NAME=field[;friendly=NAME][;format=basic|uri|unspecified], field one of ${USER_FIELDS.join(', ')} (repeat; default: mail=email, displayName=name)`,
      (value: string, previous: AttributeRule[] = []) => [...previous, samlOption(parseAttributeRule)(value)],
    )
    .action(
      action(program, async (target, json, tenantId: string, o: { metadata: string; sign?: SigningChoice; attribute?: AttributeRule[] }) => {
        await target.services.tenants.get(tenantId);
        const xml = await readMetadata(target, o.metadata);
        const registered = await target.services.serviceProviders.register(tenantId, xml, {
          ...(o.sign ? { signing: o.sign } : {}),
          ...(o.attribute ? { attributeMap: o.attribute } : {}),
        });
        print({ ...registered, metadataXml: undefined }, SP_COLUMNS, json);
      }),
    );
  sp.command('list')
    .description("list a tenant's service providers")
    .argument('<tenant>', 'tenant id')
    .action(
      action(program, async (target, json, tenantId: string) => {
        await target.services.tenants.get(tenantId);
        print(
          (await target.services.serviceProviders.list(tenantId)).map((p) => ({ ...p, metadataXml: undefined })),
          SP_COLUMNS,
          json,
        );
      }),
    );
  sp.command('show')
    .description('show a service provider (its endpoints, certificates and flags)')
    .argument('<tenant>', 'tenant id')
    .argument('<entityId>', 'the SP entityID')
    .action(
      action(program, async (target, _json, tenantId: string, entityId: string) => {
        print({ ...(await target.services.serviceProviders.get(tenantId, entityId)), metadataXml: undefined }, [], true);
      }),
    );
  sp.command('update')
    .description("replace a service provider's metadata (a key rollover, new endpoints), checked as at registration; the entityID must stay the same")
    .argument('<tenant>', 'tenant id')
    .argument('<entityId>', 'the SP entityID')
    .requiredOption('--metadata <fileOrUrl>', 'metadata XML file, or an http(s) URL to fetch it from')
    .option('--sign <what>', 'what to sign: response, assertion or both (default: unchanged)', samlOption(parseSigningChoice))
    .option(
      '--attribute <rule>',
      'release an attribute, as for sp add (repeat; replaces the map; default: unchanged)',
      (value: string, previous: AttributeRule[] = []) => [...previous, samlOption(parseAttributeRule)(value)],
    )
    .action(
      action(program, async (target, json, tenantId: string, entityId: string, o: { metadata: string; sign?: SigningChoice; attribute?: AttributeRule[] }) => {
        await target.services.tenants.get(tenantId);
        const xml = await readMetadata(target, o.metadata);
        const replaced = await target.services.serviceProviders.replace(tenantId, entityId, xml, {
          ...(o.sign ? { signing: o.sign } : {}),
          ...(o.attribute ? { attributeMap: o.attribute } : {}),
        });
        print({ ...replaced, metadataXml: undefined }, SP_COLUMNS, json);
      }),
    );
  sp.command('remove')
    .description('remove a service provider')
    .argument('<tenant>', 'tenant id')
    .argument('<entityId>', 'the SP entityID')
    .action(
      action(program, async (target, _json, tenantId: string, entityId: string) => {
        await target.services.serviceProviders.remove(tenantId, entityId);
        process.stdout.write(`removed service provider ${entityId}\n`);
      }),
    );
  return program;
}

/**
 * SP metadata from a file, or from a URL through the target's outbound URL policy (public https; no
 * redirects; 10 s; at most the metadata size cap). The operator sees why a fetch failed.
 */
async function readMetadata(target: Target, source: string): Promise<string> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    let answer;
    try {
      answer = await target.outbound.request(source, {
        method: 'GET',
        headers: { Accept: 'application/samlmetadata+xml, application/xml, text/xml' },
        timeoutMs: 10_000,
        maxResponseBytes: MAX_METADATA_BYTES,
      });
    } catch (error) {
      throw new ValidationError(`cannot fetch metadata from ${source}: ${error instanceof OutboundCallError ? error.reason : (error as Error).message}`);
    }
    if (answer.status !== 200) throw new ValidationError(`cannot fetch metadata from ${source}: HTTP ${answer.status}`);
    return answer.body;
  }
  return readFileSync(source, 'utf8');
}

/** The project's version (package.json), for `cloudcard --version`. */
const CLOUDCARD_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const KEK_NOTE = [
  'The secret is stored only wrapped by the card key-encryption key. Locally that is the key file in the',
  `data directory. With --stack it is the KMS key named by the stack's ${KEK_OUTPUT} output: your AWS`,
  'credentials need kms:Encrypt on it (with the encryption context keys tenant, card and slot), which its',
  "key policy grants only to the roles in the stack's operatorRoleArns context (see README, Deploying).",
].join('\n');

function totpOf(target: Target): TotpEnrolment {
  if (!target.services.totp) throw new Error(`TOTP needs the card key-encryption key: ${target.custodyMissing ?? 'none configured'}`);
  return target.services.totp;
}

function initialAccessTokensOf(target: Target): InitialAccessTokens {
  if (!target.services.initialAccessTokens) throw new Error('initial access tokens need the state table, which this target lacks');
  return target.services.initialAccessTokens;
}

/** A lifetime: whole seconds, or a whole number with s, m, h or d. */
function duration(value: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('must be seconds, or a whole number with s, m, h or d (e.g. 12h, 7d)');
  return Number(match[1]) * { '': 1, s: 1, m: 60, h: 3_600, d: 86_400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
}

function throttleOf(target: Target): LoginThrottle {
  if (!target.services.throttle) throw new Error('sign-in locks need the state table, which this target lacks');
  return target.services.throttle;
}

/** Follows page cursors to the end: the CLI prints whole lists. */
async function everyPage<T>(fetchPage: (cursor?: string) => Promise<{ items: T[]; cursor?: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    all.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return all;
}

function pickDefined<T extends Record<string, unknown>>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The tenant's trusted issuers after --trust-issuer (add or replace) and --untrust-issuer, or undefined when neither was given. */
function trustedIssuersUpdate(current: readonly TrustedIssuer[], o: Record<string, unknown>): TrustedIssuer[] | undefined {
  const trust = o['trustIssuer'] as string | undefined;
  const untrust = o['untrustIssuer'] as string | undefined;
  const details = ['jwksUri', 'audience', 'userClaim'].filter((name) => o[name] !== undefined);
  if (!trust && details.length) throw new ValidationError('--jwks-uri, --audience and --user-claim go with --trust-issuer');
  if (!trust && !untrust) return undefined;
  if (untrust && !current.some((t) => t.issuer === untrust)) throw new ValidationError(`tenant does not trust ${untrust}`);
  let next = current.filter((t) => t.issuer !== trust && t.issuer !== untrust);
  if (trust) {
    if (o['jwksUri'] === undefined || o['audience'] === undefined) throw new ValidationError('--trust-issuer needs --jwks-uri and --audience');
    next = [
      ...next,
      { issuer: trust, jwksUri: o['jwksUri'] as string, audience: o['audience'] as string, userClaim: (o['userClaim'] as string | undefined) ?? 'sub' },
    ];
  }
  return next;
}

function yesNo(value: unknown, option = '--pin-change-on-first-use'): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'yes' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  throw new ValidationError(`${option} takes yes or no`);
}

/** The OIDC settings `tenant update` changes (--registration, --password-grant), or undefined for none. */
function oidcUpdate(o: Record<string, unknown>): { registration?: string; passwordGrant?: boolean } | undefined {
  const update = pickDefined({ registration: o['registration'] as string | undefined, passwordGrant: yesNo(o['passwordGrant'], '--password-grant') });
  return Object.keys(update).length ? update : undefined;
}

/**
 * Entry point: a distinct exit code per kind of failure (cli/errors.ts), a one-line reason with a hint,
 * JSON under --json, never a stack trace or the whole help for a usage error.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const json = argv.includes('--json');
  const program = buildProgram();
  for (const command of [program, ...allSubcommands(program)]) {
    command.exitOverride();
    // Commander's own one-line usage errors go through renderFailure; help and --version still print.
    command.configureOutput({ writeErr: (text) => (text.startsWith('error:') ? undefined : process.stderr.write(text)) });
  }
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    // --help, --version and a command group shown without a subcommand end here too, with their own code.
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')) {
      process.exitCode = error.exitCode;
      return;
    }
    // A command group without its subcommand: commander has listed the subcommands; it is a usage error.
    if (error instanceof CommanderError && error.code === 'commander.help') {
      process.exitCode = EXIT.usage;
      return;
    }
    const failure = describeFailure(error);
    process.stderr.write(renderFailure(failure, json));
    process.exitCode = failure.exitCode;
  }
}

function allSubcommands(command: Command): Command[] {
  return command.commands.flatMap((sub) => [sub, ...allSubcommands(sub)]);
}
