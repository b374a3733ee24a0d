import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Command } from 'commander';
import { AgentDaemon, controlSocket } from './daemon.ts';
import { quickAckHint } from './latency-hint.ts';
import { loadQuickAck } from './quickack.ts';
import { browserSsoUrl, currentAccessToken, login, openWithSystemBrowser, serviceToken } from './login.ts';
import { CardApiClient } from './sdk.ts';
import { defaultStateDir, readState } from './state.ts';

/** Set by agent/build.ts in the bundle; the sources read agent/package.json beside them. */
declare const __AGENT_VERSION__: string | undefined;
export const AGENT_VERSION =
  typeof __AGENT_VERSION__ === 'string'
    ? __AGENT_VERSION__
    : (JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string }).version;

const stamp = (): string => new Date().toISOString();
/** Log lines go to stderr; they never carry tokens, PINs or APDU data. */
const log = (line: string): void => void process.stderr.write(`${stamp()} ${line}\n`);

/** Sends one command to the running agent's control socket. */
function control(stateDir: string, request: Record<string, string>): Promise<{ ok: boolean; message: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlSocket(stateDir));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('end', () => resolve(JSON.parse(reply) as { ok: boolean; message: string }));
    socket.on('error', () => reject(new Error('the agent is not running (start it with: cloudcard-agent run)')));
  });
}

export function buildAgentProgram(): Command {
  const program = new Command('cloudcard-agent')
    .description('Puts your cloudcard smart cards in a virtual reader (vsmartcard vpcd), so every PC/SC application can use them.')
    .version(AGENT_VERSION, '-V, --version', 'print the agent version')
    .option('--state-dir <dir>', 'where tokens and the device key are kept (mode 0600)', defaultStateDir());
  const stateDir = (): string => program.opts<{ stateDir: string }>().stateDir;

  program
    .command('login')
    .description('sign in through your organisation’s identity provider')
    .requiredOption('--issuer <url>', 'your tenant’s issuer URL, e.g. https://id.example.com/t/acme')
    .option('--client-id <id>', 'the OAuth client to sign in with (default: the agent client your tenant’s discovery names)')
    .option('--device', 'use the device flow (for machines without a browser)')
    .action(async (options: { issuer: string; clientId?: string; device?: boolean }) => {
      const state = await login({
        issuer: options.issuer.replace(/\/$/, ''),
        stateDir: stateDir(),
        ...(options.clientId ? { clientId: options.clientId } : {}),
        flow: options.device ? 'device' : 'browser',
        say: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write(`Signed in to ${state.issuer}; tokens kept in ${stateDir()}\n`);
    });

  program
    .command('token')
    .description('print an access token for one service (RFC 8707 resource), obtained with this device’s primary refresh token')
    .requiredOption('--resource <url>', 'the service the token is for (its audience); your administrator lists the allowed ones on the agent client')
    .option('--json', 'print the token response as JSON (access_token, token_type, expires_in, scope, resource)')
    .action(async (options: { resource: string; json?: boolean }) => {
      const token = await serviceToken(stateDir(), options.resource);
      process.stdout.write(options.json ? `${JSON.stringify(token)}\n` : `${token.access_token}\n`);
    });

  program
    .command('browser-sso <url>')
    .description('open your browser signed in (a one-time, one-minute transfer from this device’s primary refresh token) at URL, a page of your tenant')
    .option('--print', 'print the one-time URL instead of opening the browser')
    .action(async (url: string, options: { print?: boolean }) => {
      const once = await browserSsoUrl(stateDir(), url);
      if (options.print) return void process.stdout.write(`${once}\n`);
      openWithSystemBrowser(once);
      process.stdout.write('opened your browser (the sign-in link works once, within a minute)\n');
    });

  const cards = program.command('cards').description('list your cards; insert or eject one in the running agent');
  cards.action(async () => {
    const state = readState(stateDir());
    const client = new CardApiClient({ tenantUrl: state.issuer, accessToken: () => currentAccessToken(stateDir()) });
    const list = await client.cards();
    // Which identity this is, first: a person with two tenants or two accounts must not guess.
    process.stdout.write(
      `${list.user} at ${state.issuer}: ${list.cards.length === 0 ? 'no cards' : `${list.cards.length} card${list.cards.length === 1 ? '' : 's'}`}\n`,
    );
    for (const card of list.cards)
      process.stdout.write(`${card.id}\t${card.label}\tserial ${card.serial}\t${card.slots.map((s) => `${s.slot}:${s.algorithm}`).join(' ')}\n`);
  });
  for (const command of ['insert', 'eject'] as const) {
    cards
      .command(`${command} <card>`)
      .description(command === 'insert' ? 'put the card in a reader (taking it back from another client)' : 'remove the card from its reader')
      .action(async (card: string) => {
        const reply = await control(stateDir(), { command, card });
        process.stdout.write(`${reply.message}\n`);
        if (!reply.ok) process.exitCode = 1;
      });
  }

  program
    .command('run')
    .description('run in the foreground: connect each card to a vpcd reader slot and relay its APDUs')
    .option('--vpcd-host <host>', 'where vpcd listens', '127.0.0.1')
    .option('--vpcd-port <port>', 'vpcd’s first port (slot N is port + N)', (v) => Number.parseInt(v, 10), 35963)
    .option('--slots <n>', 'how many reader slots to fill', (v) => Number.parseInt(v, 10), 2)
    .option('--verbose', 'log each APDU’s command byte and status word (never data or PINs)')
    .option('--no-quickack', 'leave the vpcd sockets to the kernel’s delayed ACK (for comparison; vpcd ≥ 0.9 does not need it)')
    .action(async (options: { vpcdHost: string; vpcdPort: number; slots: number; verbose?: boolean; quickack: boolean }) => {
      const quickAck = options.quickack ? loadQuickAck() : undefined;
      const daemon = new AgentDaemon({
        stateDir: stateDir(),
        vpcdHost: options.vpcdHost,
        vpcdPort: options.vpcdPort,
        slots: options.slots,
        verbose: Boolean(options.verbose),
        agentVersion: AGENT_VERSION,
        ...(quickAck ? { quickAck } : {}),
        log,
      });
      const shutdown = async (): Promise<void> => {
        log('stopping: ejecting cards');
        await daemon.stop();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown());
      process.once('SIGTERM', () => void shutdown());
      await daemon.start();
      log(`running (vpcd link: ${quickAck ? 'TCP_QUICKACK re-armed after each read and write' : 'kernel delayed ACK'})`);
      // Without quick-ACK on the socket, the route setting is the remaining remedy: say how, once.
      const hint = quickAck ? undefined : await quickAckHint(options.vpcdHost);
      if (hint) log(`hint: ${hint}`);
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildAgentProgram().parseAsync(argv);
  } catch (error) {
    // OAuth errors carry the server's own words (error, error_description): show them, not a generic line.
    const oauth = error as { error?: string; error_description?: string };
    const detail = oauth.error ? ` (${oauth.error}${oauth.error_description ? `: ${oauth.error_description}` : ''})` : '';
    process.stderr.write(`cloudcard-agent: ${(error as Error).message}${detail}\n`);
    process.exitCode = 1;
  }
}
