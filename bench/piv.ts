import { AccessCheck } from '../lambdas/core/access/access-check.ts';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CompactSign } from 'jose';
import { generateDeviceKey } from '../agent/sdk.ts';
import { systemClock, systemRandom } from '../lambdas/adapters/system.ts';
import { CardAuthority } from '../lambdas/core/cards/authority.ts';
import { Cards } from '../lambdas/core/cards/cards.ts';
import { PinHasher } from '../lambdas/core/cards/pin-hash.ts';
import { SessionSeal } from '../lambdas/core/cards/session-seal.ts';
import { CardSessions } from '../lambdas/core/cards/sessions.ts';
import { WrappedSlotKeys } from '../lambdas/core/cards/slot-keys.ts';
import { privateKeyFromPkcs8, ecdsaSignDigest, rawRsa } from '../lambdas/core/crypto/raw-signatures.ts';
import { Tenants, type Tenant } from '../lambdas/core/directory/tenant.ts';
import { Users } from '../lambdas/core/directory/user.ts';
import { buildCommand } from '../lambdas/core/piv/apdu.ts';
import { handleApdu } from '../lambdas/core/piv/application.ts';
import { buildCertificateObject, buildChuid } from '../lambdas/core/piv/builders.ts';
import { TAG } from '../lambdas/core/piv/objects.ts';
import { newSessionState } from '../lambdas/core/piv/session.ts';
import type { KeyCustody } from '../lambdas/ports.ts';
import { openBackend, type Backend, type BackendName } from '../test/support/backends.ts';
import { generalAuthenticate, getData, pkcs1Block, select, sw, verifyPin } from '../test/support/card-flows.ts';
import { startMoto } from '../test/support/emulator.ts';
import { MemoryPivCard } from '../test/support/piv-memory-card.ts';
import { ms, table } from './stats.ts';
import { tallied, type Tally } from './tally.ts';

/**
 * The PIV card service, server side. Three parts:
 * - GENERAL AUTHENTICATE through `CardSessions.apdu`, the real APDU path (session read, card read, unwrap,
 *   private-key operation, session write when the security state changes), wrapped custody, RSA-2048 and
 *   P-256, on the embedded store with local custody and on moto (DynamoDB + KMS), one call at a time;
 * - the store reads and writes (and key-custody calls) each kind of APDU makes, counted by proxies around
 *   the two tables and the custody;
 * - handleApdu alone (parse, dispatch, response shaping) on the in-memory reference card: ops/s.
 */
export interface PivBenchOptions {
  /** Measured GENERAL AUTHENTICATE / GET DATA calls per row, after `warmup`. */
  readonly calls: number;
  readonly warmup: number;
  /** VERIFY calls per backend (each is one PIN MAC check and two counter writes). */
  readonly verifies: number;
  /** handleApdu calls per throughput row. */
  readonly dispatches: number;
}

export const PIV_BENCH_DEFAULTS: PivBenchOptions = { calls: 300, warmup: 30, verifies: 10, dispatches: 20_000 };

const PIN = '24681357';
const ALGORITHMS = [
  { name: 'RSA-2048', algorithm: 'rsa2048', pivId: 0x07 },
  { name: 'P-256', algorithm: 'p256', pivId: 0x11 },
] as const;

function percentiles(samples: readonly number[]): { n: number; p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99) };
}

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/** The GENERAL AUTHENTICATE input for an algorithm: a PKCS#1 v1.5 SHA-256 block or a SHA-256 digest. */
function signingInput(algorithm: (typeof ALGORITHMS)[number]): Uint8Array {
  return algorithm.algorithm === 'rsa2048' ? pkcs1Block(Buffer.from('bench'), 256) : new Uint8Array(randomBytes(32));
}

interface Tallies {
  readonly state: Tally;
  readonly directory: Tally;
  readonly custody: Tally;
}

const copyOf = (tally: Tally): Tally => ({ calls: { ...tally.calls }, ms: tally.ms });

function clear(tallies: Tallies): void {
  for (const tally of Object.values(tallies) as Tally[]) {
    for (const key of Object.keys(tally.calls)) delete tally.calls[key];
    tally.ms = 0;
  }
}

/** The card service on one backend, its tables and custody behind counting proxies. */
interface CardService {
  readonly backend: Backend;
  readonly tenant: Tenant;
  readonly sessions: CardSessions;
  readonly cards: Cards;
  /** Counted since the last `clear`. */
  readonly tallies: Tallies;
  /** Opens a session on a card the way the card API does: challenge, device-key proof, open. */
  open(cardId: string): Promise<string>;
}

async function cardService(name: BackendName): Promise<CardService> {
  const backend = await openBackend(name, systemClock);
  const tallies: Tallies = { state: { calls: {}, ms: 0 }, directory: { calls: {}, ms: 0 }, custody: { calls: {}, ms: 0 } };
  const directory = tallied(backend.directory, tallies.directory, 'directory');
  const state = tallied(backend.state, tallies.state, 'state');
  const custody = tallied<KeyCustody>(backend.custody, tallies.custody, 'custody');
  const tenants = new Tenants(backend.directory, systemClock);
  const users = new Users(backend.directory, tenants, systemClock);
  const cards = new Cards({
    directory,
    custody,
    slotKeys: { wrapped: new WrappedSlotKeys(custody) },
    authority: new CardAuthority(backend.directory, backend.residentKeys, systemClock),
    pins: new PinHasher(backend.cardPinKey),
    tenants,
    users,
    clock: systemClock,
    random: systemRandom,
  });
  // The access check reads the tenant and the user through the counted directory: its reads are part of an APDU.
  const countedTenants = new Tenants(directory, systemClock);
  const access = new AccessCheck(countedTenants, new Users(directory, countedTenants, systemClock));
  const sessions = new CardSessions(state, cards, systemClock, systemRandom, access, new SessionSeal(backend.cardSessionKey));
  await tenants.create({ id: 'bench' });
  await users.add('bench', { username: 'alice', email: 'alice@example.test' });
  const tenant = await tenants.get('bench');
  const device = await generateDeviceKey();
  return {
    tallies,
    backend,
    tenant,
    sessions,
    cards,
    open: async (cardId: string): Promise<string> => {
      const { nonce } = await sessions.challenge(tenant, 'alice', cardId, device.publicJwk);
      const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify({ nonce, card: cardId })))
        .setProtectedHeader({ alg: device.alg, typ: 'cloudcard-session+jwt', jwk: device.publicJwk })
        .sign(device.privateKey);
      return (await sessions.open(tenant, 'alice', cardId, proof)).secret;
    },
  };
}

/** One APDU through the service with fresh tallies; its time and what it called. */
async function counted(service: CardService, secret: string, command: Uint8Array): Promise<{ ms: number; response: Uint8Array; tallies: Tallies }> {
  clear(service.tallies);
  const start = performance.now();
  const { response } = await service.sessions.apdu('bench', secret, command);
  const elapsed = performance.now() - start;
  const { state, directory, custody } = service.tallies;
  return { ms: elapsed, response, tallies: { state: copyOf(state), directory: copyOf(directory), custody: copyOf(custody) } };
}

/** `wanted` 6100 accepts 61xx (more bytes wait for GET RESPONSE) and 9000; 63C0 accepts any 63Cx. */
function expectSw(response: Uint8Array, wanted: number, what: string): void {
  const got = sw(response);
  const ok = got === wanted || (wanted === 0x6100 && (got >> 8 === 0x61 || got === 0x9000)) || (wanted === 0x63c0 && got >> 4 === 0x63c);
  if (!ok) throw new Error(`${what}: status ${got.toString(16)}, expected ${wanted.toString(16)}`);
}

const reads = (tally: Tally): number => (tally.calls['state.get'] ?? 0) + (tally.calls['directory.get'] ?? 0) + sumOf(tally, ['query']);
const sumOf = (tally: Tally, methods: readonly string[]): number =>
  Object.entries(tally.calls)
    .filter(([key]) => methods.includes(key.split('.')[1]!))
    .reduce((total, [, count]) => total + count, 0);
const writes = (tally: Tally): number => sumOf(tally, ['put', 'update', 'delete']);

/** "1 get, 2 update" for one table, or "-". */
function described(tally: Tally): string {
  const entries = Object.entries(tally.calls).map(([key, count]) => `${count} ${key.split('.')[1]}`);
  return entries.length ? entries.join(', ') : '-';
}

interface CountRow {
  readonly apdu: string;
  readonly cells: string[];
}

/** The APDU sequences counted, in the order a host sends them. */
async function countSequence(service: CardService, rsaCard: string): Promise<CountRow[]> {
  const secret = await service.open(rsaCard);
  const rows: CountRow[] = [];
  const step = async (apdu: string, command: Uint8Array, wanted: number): Promise<void> => {
    const run = await counted(service, secret, command);
    expectSw(run.response, wanted, apdu);
    const t = run.tallies;
    rows.push({
      apdu,
      cells: [
        String(reads(t.state) + reads(t.directory)),
        String(writes(t.state) + writes(t.directory)),
        described(t.state),
        described(t.directory),
        described(t.custody),
      ],
    });
  };
  const block = pkcs1Block(Buffer.from('bench'), 256);
  await step('SELECT PIV', select(), 0x9000);
  await step('GET DATA CHUID (extended Le)', getData(TAG.CHUID), 0x9000);
  await step(
    'GET DATA 9A certificate, short Le (61xx)',
    buildCommand({ ins: 0xcb, p1: 0x3f, p2: 0xff }, Uint8Array.from([0x5c, 0x03, 0x5f, 0xc1, 0x05]), 256),
    0x6100,
  );
  await step('GET RESPONSE (next 256 bytes)', buildCommand({ ins: 0xc0, p1: 0x00, p2: 0x00 }, undefined, 256), 0x6100);
  await step('VERIFY PIN (right)', verifyPin(PIN), 0x9000);
  await step('GENERAL AUTHENTICATE RSA-2048, right after VERIFY', generalAuthenticate(0x07, 0x9a, block), 0x9000);
  await step('GENERAL AUTHENTICATE RSA-2048, again', generalAuthenticate(0x07, 0x9a, block), 0x9000);
  // A plain relay of short APDUs: the same signature in three requests.
  const [fragment1, fragment2, rest] = shortApduSignature(block);
  await step('GENERAL AUTHENTICATE RSA-2048, short APDUs: fragment 1 (CLA 10)', ...fragment1!);
  await step('... fragment 2 (61xx)', ...fragment2!);
  await step('... GET RESPONSE', ...rest!);
  await step('VERIFY PIN (wrong)', verifyPin('00000000'), 0x63c0);
  await step('VERIFY PIN (right, restores the counter)', verifyPin(PIN), 0x9000);
  await service.sessions.close('bench', secret);
  return rows;
}

interface TimingRow {
  readonly backend: string;
  readonly apdu: string;
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly state: number;
  readonly directory: number;
  readonly custody: number;
  readonly total: number;
}

/** One request of a timed sequence: the command and the status word it must get. */
type Step = readonly [command: Uint8Array, wanted: number];

/**
 * `calls` sequential runs of a sequence of APDUs (usually one) on an open session: the summed time per run
 * and the mean split by where it waited.
 */
async function timeApdu(
  service: CardService,
  label: string,
  apdu: string,
  secret: string,
  steps: () => readonly Step[],
  calls: number,
  warmup: number,
): Promise<TimingRow> {
  const once = async (): Promise<{ ms: number; tallies: Tallies }> => {
    const total = { ms: 0, tallies: { state: { calls: {}, ms: 0 }, directory: { calls: {}, ms: 0 }, custody: { calls: {}, ms: 0 } } as Tallies };
    for (const [command, wanted] of steps()) {
      const run = await counted(service, secret, command);
      expectSw(run.response, wanted, apdu);
      total.ms += run.ms;
      for (const key of ['state', 'directory', 'custody'] as const) total.tallies[key].ms += run.tallies[key].ms;
    }
    return total;
  };
  for (let i = 0; i < warmup; i++) await once();
  const runs: Array<{ ms: number; tallies: Tallies }> = [];
  for (let i = 0; i < calls; i++) runs.push(await once());
  const p = percentiles(runs.map((r) => r.ms));
  return {
    backend: label,
    apdu,
    n: p.n,
    p50: p.p50,
    p99: p.p99,
    state: mean(runs.map((r) => r.tallies.state.ms)),
    directory: mean(runs.map((r) => r.tallies.directory.ms)),
    custody: mean(runs.map((r) => r.tallies.custody.ms)),
    total: mean(runs.map((r) => r.ms)),
  };
}

/**
 * An RSA-2048 GENERAL AUTHENTICATE as a plain relay of short APDUs sends it: the 266-byte template in two
 * chained fragments (CLA 10, then CLA 00), and the 264-byte answer as 256 bytes + 61 08 + GET RESPONSE.
 */
function shortApduSignature(block: Uint8Array): Step[] {
  const whole = generalAuthenticate(0x07, 0x9a, block);
  const data = whole.subarray(7, whole.length - 2); // drop the extended header (4 + 3 bytes) and Le
  return [
    [buildCommand({ cla: 0x10, ins: 0x87, p1: 0x07, p2: 0x9a }, data.subarray(0, 255)), 0x9000],
    [buildCommand({ ins: 0x87, p1: 0x07, p2: 0x9a }, data.subarray(255), 256), 0x6100],
    [buildCommand({ ins: 0xc0, p1: 0x00, p2: 0x00 }, undefined, 256), 0x9000],
  ];
}

/** The same key's private operation without the service: PKCS#8 parse (as each APDU does) and the signature. */
async function cryptoAlone(service: CardService, cardId: string, algorithm: (typeof ALGORITHMS)[number], calls: number): Promise<TimingRow> {
  const item = await service.cards.item('bench', cardId);
  const stored = item['slot_9a']!;
  if (stored.key.custody !== 'wrapped') throw new Error('the bench enrols wrapped keys');
  const pkcs8 = await service.backend.custody.unwrap(stored.key.wrapped, { tenant: 'bench', card: cardId, slot: '9a' });
  const input = signingInput(algorithm);
  const once = (): void => {
    const key = privateKeyFromPkcs8(pkcs8);
    if (algorithm.algorithm === 'rsa2048') rawRsa(key, input);
    else ecdsaSignDigest(key, input);
  };
  for (let i = 0; i < 30; i++) once();
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    once();
    samples.push(performance.now() - start);
  }
  const p = percentiles(samples);
  return {
    backend: '(none)',
    apdu: `${algorithm.name}: PKCS#8 parse + private operation alone`,
    n: p.n,
    p50: p.p50,
    p99: p.p99,
    state: 0,
    directory: 0,
    custody: 0,
    total: mean(samples),
  };
}

async function benchBackend(
  name: BackendName,
  label: string,
  options: PivBenchOptions,
): Promise<{ timings: TimingRow[]; counts: CountRow[]; crypto: TimingRow[] }> {
  const service = await cardService(name);
  try {
    const enrolled = new Map<string, string>();
    for (const algorithm of ALGORITHMS) {
      const { card } = await service.cards.enrol('bench', { username: 'alice', slots: ['9a'], algorithm: algorithm.algorithm, pin: PIN, puk: '86427531' });
      enrolled.set(algorithm.algorithm, card.id);
    }
    const timings: TimingRow[] = [];
    for (const algorithm of ALGORITHMS) {
      const secret = await service.open(enrolled.get(algorithm.algorithm)!);
      expectSw((await counted(service, secret, select())).response, 0x9000, 'SELECT');
      expectSw((await counted(service, secret, verifyPin(PIN))).response, 0x9000, 'VERIFY');
      const input = signingInput(algorithm);
      const ga = `GENERAL AUTHENTICATE ${algorithm.name} (9A)`;
      timings.push(
        await timeApdu(service, label, ga, secret, () => [[generalAuthenticate(algorithm.pivId, 0x9a, input), 0x9000]], options.calls, options.warmup),
      );
      if (algorithm.algorithm === 'rsa2048') {
        const relay = `${ga} as 3 short APDUs (2 chained fragments + GET RESPONSE), summed`;
        timings.push(await timeApdu(service, label, relay, secret, () => shortApduSignature(input), Math.ceil(options.calls / 5), options.warmup));
        timings.push(await timeApdu(service, label, 'GET DATA CHUID', secret, () => [[getData(TAG.CHUID), 0x9000]], options.calls, options.warmup));
        timings.push(await timeApdu(service, label, 'VERIFY PIN (right)', secret, () => [[verifyPin(PIN), 0x9000]], options.verifies, 1));
      }
      await service.sessions.close('bench', secret);
    }
    const crypto: TimingRow[] = [];
    if (name === 'embedded') {
      for (const algorithm of ALGORITHMS) crypto.push(await cryptoAlone(service, enrolled.get(algorithm.algorithm)!, algorithm, options.calls));
    }
    return { timings, counts: await countSequence(service, enrolled.get('rsa2048')!), crypto };
  } finally {
    await service.backend.close();
  }
}

/** handleApdu alone on the in-memory card: fixed count, sequential awaits, ops/s. */
async function dispatchThroughput(dispatches: number): Promise<string[][]> {
  const card = new MemoryPivCard();
  await card.writeObject(TAG.CHUID, buildChuid({ guid: new Uint8Array(randomBytes(16)), expires: new Date('2030-01-01') }));
  await card.writeObject(TAG.CERT_9A, buildCertificateObject(new Uint8Array(randomBytes(1000))));
  const deps = { card, random: systemRandom };
  const state = newSessionState();
  const cases: Array<[string, Uint8Array]> = [
    ['GET VERSION (00 FD)', buildCommand({ ins: 0xfd, p1: 0x00, p2: 0x00 }, undefined, 256)],
    ['SELECT PIV AID', select()],
    ['GET DATA CHUID (extended Le)', getData(TAG.CHUID)],
    ['GET DATA 9A certificate, 1 KiB (extended Le)', getData(TAG.CERT_9A)],
    ['truncated APDU (answered 6700)', Uint8Array.from([0x00, 0xa4, 0x04])],
  ];
  const rows: string[][] = [];
  for (const [name, command] of cases) {
    for (let i = 0; i < 1000; i++) await handleApdu(command, state, deps);
    const start = performance.now();
    for (let i = 0; i < dispatches; i++) await handleApdu(command, state, deps);
    const elapsed = performance.now() - start;
    const { response } = await handleApdu(command, state, deps);
    rows.push([
      name,
      sw(response).toString(16).padStart(4, '0'),
      String(dispatches),
      Math.round((dispatches / elapsed) * 1000).toLocaleString('en-US'),
      ((elapsed / dispatches) * 1000).toFixed(1),
    ]);
  }
  return rows;
}

export async function benchPiv(options: PivBenchOptions = PIV_BENCH_DEFAULTS): Promise<string> {
  const started = performance.now();
  const embedded = await benchBackend('embedded', 'dynalite + local custody', options);
  // The emulator backend reads its endpoint from the integration harness's variables: start our own moto.
  const moto = await startMoto();
  let emulator: Awaited<ReturnType<typeof benchBackend>>;
  try {
    process.env['CLOUDCARD_TEST_EMULATOR'] = moto.endpoint;
    process.env['CLOUDCARD_TEST_EMULATOR_KIND'] = 'moto';
    emulator = await benchBackend('emulator', 'moto (DynamoDB + KMS)', options);
  } finally {
    moto.process.kill('SIGTERM');
  }
  const dispatch = await dispatchThroughput(options.dispatches);

  const timingRows = [...embedded.timings, ...emulator.timings, ...embedded.crypto].map((r) => [
    r.backend,
    r.apdu,
    String(r.n),
    ms(r.p50),
    ms(r.p99),
    ms(r.state),
    ms(r.directory),
    ms(r.custody),
    ms(Math.max(0, r.total - r.state - r.directory - r.custody)),
  ]);
  const sameCounts = JSON.stringify(embedded.counts) === JSON.stringify(emulator.counts);
  const countTable = (rows: CountRow[]): string =>
    table(
      ['APDU (one session, in this order)', 'reads', 'writes', 'state table', 'directory table', 'key custody'],
      rows.map((r) => [r.apdu, ...r.cells]),
    );
  return [
    'Wrapped custody, slot 9A (PIN once), one call at a time through `CardSessions.apdu` after SELECT and VERIFY on the session, so a repeated GENERAL AUTHENTICATE leaves the security state unchanged and writes nothing (the counts below show when it writes). ' +
      'Mean milliseconds waiting on each part (proxies around the state table, the directory table and the key custody); *rest* is the PIV application, PKCS#8 parse and the private-key operation.',
    '',
    table(['backend', 'APDU', 'n', 'p50 ms', 'p99 ms', 'state ms', 'directory ms', 'unwrap ms', 'rest ms'], timingRows),
    '',
    `Store reads and writes per APDU (${sameCounts ? 'identical on both backends' : 'embedded backend; moto below differs'}):`,
    '',
    countTable(embedded.counts),
    ...(sameCounts ? [] : ['', countTable(emulator.counts)]),
    '',
    '`handleApdu` alone on the in-memory reference card (no store, no custody), sequential awaits after 1000 warm-up calls:',
    '',
    table(['command', 'SW', 'calls', 'ops/s', 'µs/op'], dispatch),
    '',
    `(piv section: ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  ].join('\n');
}

// `node bench/piv.ts` runs this part alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.env['BENCH_PIV_QUICK'] === '1';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  const calls = Number(process.env['BENCH_PIV_CALLS'] ?? PIV_BENCH_DEFAULTS.calls);
  process.stdout.write(`${await benchPiv(quick ? { calls: 30, warmup: 5, verifies: 2, dispatches: 2000 } : { ...PIV_BENCH_DEFAULTS, calls })}\n`);
}
