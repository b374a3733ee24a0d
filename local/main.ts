import { resolve } from 'node:path';
import { ConfigError } from '../lambdas/config.ts';
import { DEMO_PASSWORD_VARIABLE, DEMO_TENANT, DEMO_USER, demoPasswordProblem } from './seed.ts';
import { dataFiles, startLocalStack, type LocalStackOptions } from './stack.ts';

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
type LogLevel = NonNullable<LocalStackOptions['logLevel']>;

/** The variables only the local stack reads, checked together so one message names every bad one. */
function localSettings(env: NodeJS.ProcessEnv): { port: number; certPort: number; logLevel: LogLevel; demoPassword?: string } {
  const problems: { variable: string; message: string }[] = [];
  const port = env['PORT'] === undefined ? 3000 : Number(env['PORT']);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) problems.push({ variable: 'PORT', message: 'must be a TCP port number' });
  // The certificate-login (mutual-TLS) listener: PORT+1 by default (a free port when PORT is 0).
  const certPortGiven = env['CERT_PORT'] !== undefined && env['CERT_PORT'] !== '';
  const certPort = certPortGiven ? Number(env['CERT_PORT']) : port === 0 ? 0 : port + 1;
  // Derived from a bad PORT, it is PORT's problem alone.
  if (
    (certPortGiven || Number.isInteger(port)) &&
    (!Number.isInteger(certPort) || certPort < 0 || certPort > 65_535 || (certPort !== 0 && certPort === port))
  ) {
    problems.push({ variable: 'CERT_PORT', message: 'must be a TCP port number other than PORT' });
  }
  if (Boolean(env['CERT_TLS_CERT']) !== Boolean(env['CERT_TLS_KEY']))
    problems.push({ variable: env['CERT_TLS_CERT'] ? 'CERT_TLS_KEY' : 'CERT_TLS_CERT', message: 'CERT_TLS_CERT and CERT_TLS_KEY go together' });
  const logLevel = (env['LOG_LEVEL'] || 'INFO').toUpperCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) problems.push({ variable: 'LOG_LEVEL', message: `must be one of ${LOG_LEVELS.join(', ')}` });
  const demoPassword = env[DEMO_PASSWORD_VARIABLE] || undefined;
  const passwordProblem = demoPassword === undefined ? undefined : demoPasswordProblem(demoPassword);
  if (passwordProblem) problems.push({ variable: DEMO_PASSWORD_VARIABLE, message: passwordProblem });
  if (problems.length > 0) throw new ConfigError(problems);
  return { port, certPort, logLevel: logLevel as LogLevel, ...(demoPassword ? { demoPassword } : {}) };
}

/** `npm start`: the local stack on http://localhost:3000 (env PORT), data kept under .data/. */
async function main(): Promise<void> {
  const { port, certPort, logLevel, demoPassword } = localSettings(process.env);
  process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true'; // EMF metrics are for CloudWatch, not a terminal
  const dataDir = resolve(process.env['CLOUDCARD_DATA_DIR'] ?? '.data');
  const stack = await startLocalStack({
    dataDir,
    port,
    env: process.env,
    ...(demoPassword ? { demoPassword } : {}),
    logLevel,
    // SPs and identity providers under development run on this machine: the outbound URL policy's
    // loopback exception is the local stack's alone (deployed functions never have it).
    outbound: { allowLoopback: true },
    certListener: {
      port: certPort,
      ...(process.env['CERT_TLS_CERT'] ? { certFile: process.env['CERT_TLS_CERT'], keyFile: process.env['CERT_TLS_KEY']! } : {}),
    },
  });
  const issuer = `${stack.url}/t/${DEMO_TENANT}`;
  const lines = [
    `cloudcard local stack is up`,
    `  base URL          ${stack.url}`,
    `  health            ${stack.url}/health`,
    `  OpenAPI           ${stack.url}/openapi.json`,
    `  certificate login ${stack.certUrl} (mutual TLS; server certificate ${process.env['CERT_TLS_CERT'] ?? `${dataDir}/cert-listener.pem`})`,
    `  demo issuer       ${issuer}`,
    `  OIDC discovery    ${issuer}/.well-known/openid-configuration`,
    `  SAML metadata     ${issuer}/saml/metadata`,
    `  data              ${dataDir} (embedded store on ${stack.storeSocket})`,
    `  admin credentials ${dataFiles(dataDir).bootstrap}`,
    `  outbound calls    public https, and loopback (http too) as the local stack's exception`,
  ];
  if (stack.seed.generatedPassword) {
    lines.push(`  demo user         ${DEMO_USER} / ${stack.seed.generatedPassword}   (generated now; set CLOUDCARD_DEMO_PASSWORD to choose it)`);
  } else {
    lines.push(`  demo user         ${DEMO_USER} (password as set on first start)`);
  }
  lines.push('Press Ctrl-C to stop.');

  // The handlers go in before the banner: whoever waits for it may press Ctrl-C at once, and a SIGINT
  // with no handler yet would kill the process without closing the store or releasing the lock.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping...\n`);
    stack.close().then(
      () => exitAfterOutput(0),
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${(error as Error).message}\n`);
        exitAfterOutput(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : `cannot start: ${(error as Error).message}`;
  process.stderr.write(`${message}\n`);
  exitAfterOutput(1);
});

/**
 * Exits once what was written to stdout and stderr has been handed over: process.exit() right after a
 * write can drop it where pipes are asynchronous (macOS), and a test or script reading the pipe sees
 * nothing.
 */
function exitAfterOutput(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
