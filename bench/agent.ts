import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { newDeviceKey } from '../agent/state.ts';
import { directoryServices } from '../lambdas/runtime.ts';
import { startLocalStack } from '../local/stack.ts';
import { cardAccessToken } from '../test/support/card-flows.ts';
import { DEMO_PASSWORD } from '../test/support/oidc-stack.ts';
import { agentStats, READER, startPcscd, tool } from '../test/support/pcsc.ts';
import { summarize } from './stats.ts';

export const AGENT_BENCH_DEFAULTS = { runs: 5 } as const;

const PKCS11 = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
const PIN = '123456';

/**
 * End to end through real components: `pkcs11-tool --login --sign` against Debian's pcscd + vpcd, the
 * client agent and the local gateway, once with the agent's vpcd socket left to the kernel's delayed ACK
 * (`--no-quickack`) and once with TCP_QUICKACK re-armed. Reports the wall time, the APDUs OpenSC sent, the
 * vpcd messages that took > 20 ms to arrive and the HTTPS requests the agent made per login+sign. Skipped (with the reason) where pcscd, vpcd or OpenSC are missing.
 */
export async function benchAgent(options: { runs: number }): Promise<string> {
  const missing = ['pcscd', 'pkcs11-tool'].filter((command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  if (missing.length) return `skipped: ${missing.join(', ')} not installed (Debian: pcscd vsmartcard-vpcd opensc)`;
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-bench-agent-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'cc-bench-agent-state-'));
  const stack = await startLocalStack({ port: 0, dataDir, logLevel: 'SILENT', demoPassword: DEMO_PASSWORD });
  const pcscd = await startPcscd();
  const agentBin = join(import.meta.dirname, '..', 'agent', 'bin', 'cloudcard-agent.js');
  let agent: ReturnType<typeof spawn> | undefined;
  try {
    const issuer = `${stack.url}/t/demo`;
    const cards = directoryServices(stack.runtime).cards!;
    const rsa = await cards.enrol('demo', { username: 'alice', algorithm: 'rsa2048', pin: PIN, puk: '12345678', label: 'rsa' });
    const ec = await cards.enrol('demo', { username: 'alice', algorithm: 'p256', pin: PIN, puk: '12345678', label: 'ec' });
    // The agent's state as `login` leaves it (the sign-in itself is not what this measures).
    const accessToken = await cardAccessToken(stack);
    writeFileSync(
      join(stateDir, 'state.json'),
      JSON.stringify({ version: 1, issuer, clientId: 'bench', accessToken, expiresAt: Math.floor(Date.now() / 1000) + 3600, deviceKey: await newDeviceKey() }),
      { mode: 0o600 },
    );
    // One agent per mode, in turn on the same readers: the kernel's delayed ACK (today's agent with vpcd < 0.9)
    // and TCP_QUICKACK re-armed on the vpcd socket.
    const rows: string[] = [
      '| vpcd link | Card (9A) | runs | wall p50 | wall min / max | APDUs per run | vpcd messages > 20 ms per run | HTTPS requests per login+sign |',
      '|---|---|---|---|---|---|---|---|',
    ];
    for (const [mode, flags] of [
      ['delayed ACK (`--no-quickack`)', ['--no-quickack']],
      ['TCP_QUICKACK re-armed', []],
    ] as const) {
      let log = '';
      agent = spawn(process.execPath, [agentBin, '--state-dir', stateDir, 'run', '--vpcd-port', String(pcscd.vpcdPort), '--verbose', ...flags], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      agent.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
      for (let i = 0; i < 300 && !/running/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
      await waitForReaders(2);
      const ordered = [rsa.card.id, ec.card.id].sort();
      for (const [label, card, mechanism] of [
        ['RSA-2048', rsa.card.id, 'SHA256-RSA-PKCS'],
        ['P-256', ec.card.id, 'ECDSA-SHA256'],
      ] as const) {
        const reader = `${READER} 00 0${ordered.indexOf(card)}`;
        const work = mkdtempSync(join(tmpdir(), 'cc-bench-sign-'));
        writeFileSync(join(work, 'data'), 'bench');
        const sign = () =>
          tool('pkcs11-tool', [
            '--module',
            PKCS11,
            '--slot-description',
            reader,
            '--login',
            '--pin',
            PIN,
            '--sign',
            '--id',
            '01',
            '--mechanism',
            mechanism,
            '--input-file',
            join(work, 'data'),
            '--output-file',
            join(work, 'sig'),
          ]);
        await sign(); // warm: the agent learns the static answers once per insertion
        const times: number[] = [];
        const apdus: number[] = [];
        const slowTurns: number[] = [];
        const requests: number[] = [];
        for (let run = 0; run < options.runs; run++) {
          const stats = await agentStats(stateDir);
          const before = { log: countApdus(log, card), requests: stats.requests[card] ?? 0, slow: stats.turns[card]?.slow ?? 0 };
          const started = performance.now();
          const result = await sign();
          times.push(performance.now() - started);
          if (result.status !== 0) throw new Error(`pkcs11-tool failed: ${result.stderr}`);
          await new Promise((r) => setTimeout(r, 50)); // let the agent's log lines arrive
          const after = await agentStats(stateDir);
          apdus.push(countApdus(log, card) - before.log);
          requests.push((after.requests[card] ?? 0) - before.requests);
          slowTurns.push((after.turns[card]?.slow ?? 0) - before.slow);
        }
        rmSync(work, { recursive: true, force: true });
        const sorted = [...times].sort((a, b) => a - b);
        rows.push(
          `| ${mode} | ${label} | ${options.runs} | ${(summarize(times).p50 / 1000).toFixed(2)} s | ${(sorted[0]! / 1000).toFixed(2)} / ${(sorted.at(-1)! / 1000).toFixed(2)} s | ${Math.round(median(apdus))} | ${median(slowTurns)} | ${median(requests)} |`,
        );
      }
      await stopAgent(agent);
      agent = undefined;
    }
    return rows.join('\n');
  } finally {
    if (agent) await stopAgent(agent);
    await pcscd.stop();
    await stack.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Waits until opensc-tool sees a card in `count` of the vpcd readers. */
async function waitForReaders(count: number): Promise<void> {
  for (let i = 0; i < 150; i++) {
    const readers = (await tool('opensc-tool', ['--list-readers'])).stdout;
    if ((readers.match(new RegExp(`Yes\\s+${READER}`, 'g')) ?? []).length === count) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** SIGTERM, and wait for the agent to eject its cards and exit, so the next one finds the readers free. */
async function stopAgent(agent: ReturnType<typeof spawn>): Promise<void> {
  if (agent.exitCode !== null) return;
  const exited = new Promise((resolve) => agent.once('exit', resolve));
  agent.kill('SIGTERM');
  await exited;
}

const countApdus = (log: string, card: string): number => log.split('\n').filter((line) => line.includes(`apdu ${card} `)).length;
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

// `node bench/agent.ts` runs this part alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.stdout.write(`${await benchAgent({ runs: Number(process.env['BENCH_AGENT_RUNS'] ?? AGENT_BENCH_DEFAULTS.runs) })}\n`);
}
