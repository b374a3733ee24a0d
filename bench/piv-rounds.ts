import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CompactSign } from 'jose';
import { generateDeviceKey } from '../agent/sdk.ts';
import { systemClock, systemRandom } from '../lambdas/adapters/system.ts';
import { AccessCheck } from '../lambdas/core/access/access-check.ts';
import { CardAuthority } from '../lambdas/core/cards/authority.ts';
import { Cards } from '../lambdas/core/cards/cards.ts';
import { PIN_HASH_LABEL, PinHasher } from '../lambdas/core/cards/pin-hash.ts';
import { SessionSeal } from '../lambdas/core/cards/session-seal.ts';
import { CardSessions } from '../lambdas/core/cards/sessions.ts';
import { WrappedSlotKeys } from '../lambdas/core/cards/slot-keys.ts';
import { hashSecret } from '../lambdas/core/crypto/password.ts';
import { Tenants } from '../lambdas/core/directory/tenant.ts';
import { Users } from '../lambdas/core/directory/user.ts';
import { openBackend, type Backend, type BackendName } from '../test/support/backends.ts';
import { generalAuthenticate, getData, select, sw, verifyPin } from '../test/support/card-flows.ts';
import { startMoto } from '../test/support/emulator.ts';
import { RoundTrips } from '../test/support/round-trips.ts';
import { ms, summarize, table } from './stats.ts';

/**
 * Issue 14 item 4, a section of its own: per APDU, the sequential store round trips and KMS calls the card
 * service makes (session, card, tenant and user read at once; a VERIFY is one VerifyMac), beside what the
 * previous code made; and the VERIFY time on each backend, beside a PIN check of the previous (scrypt)
 * scheme in the same run.
 */
export interface PivRoundsOptions {
  /** VERIFY APDUs timed per backend. */
  readonly verifies: number;
  /** PIN checks of the previous scheme timed per backend (each ~0.1 s of scrypt). */
  readonly scryptChecks: number;
}

export const PIV_ROUNDS_DEFAULTS: PivRoundsOptions = { verifies: 100, scryptChecks: 10 };

const PIN = '24681357';

interface Service {
  readonly backend: Backend;
  readonly trips: RoundTrips;
  readonly sessions: CardSessions;
  readonly cards: Cards;
  readonly pins: PinHasher;
  open(cardId: string): Promise<string>;
}

async function service(name: BackendName): Promise<Service> {
  const backend = await openBackend(name, systemClock);
  const trips = new RoundTrips();
  const directory = trips.watch(backend.directory, 'directory');
  const state = trips.watch(backend.state, 'state');
  const custody = trips.watch(backend.custody, 'kms');
  const pins = new PinHasher(trips.watch(backend.cardPinKey, 'kms'));
  const tenants = new Tenants(directory, systemClock);
  const users = new Users(directory, tenants, systemClock);
  const cards = new Cards({
    directory,
    custody,
    slotKeys: { wrapped: new WrappedSlotKeys(custody) },
    authority: new CardAuthority(backend.directory, backend.residentKeys, systemClock),
    pins,
    tenants,
    users,
    clock: systemClock,
    random: systemRandom,
  });
  const sessions = new CardSessions(state, cards, systemClock, systemRandom, new AccessCheck(tenants, users), new SessionSeal(backend.cardSessionKey));
  await tenants.create({ id: 'bench' });
  await users.add('bench', { username: 'alice', email: 'alice@example.test' });
  const tenant = await tenants.get('bench');
  const device = await generateDeviceKey();
  return {
    backend,
    trips,
    sessions,
    cards,
    pins,
    open: async (cardId) => {
      const { nonce } = await sessions.challenge(tenant, 'alice', cardId, device.publicJwk);
      const proof = await new CompactSign(new TextEncoder().encode(JSON.stringify({ nonce, card: cardId })))
        .setProtectedHeader({ alg: device.alg, typ: 'cloudcard-session+jwt', jwk: device.publicJwk })
        .sign(device.privateKey);
      return (await sessions.open(tenant, 'alice', cardId, proof)).secret;
    },
  };
}

async function measure(name: BackendName, label: string, options: PivRoundsOptions): Promise<{ counts: string[][]; timings: string[][] }> {
  const s = await service(name);
  try {
    const cardId = (await s.cards.enrol('bench', { username: 'alice', slots: ['9a'], algorithm: 'p256', pin: PIN, puk: '86427531' })).card.id;
    const token = await s.open(cardId);
    const run = async (command: Uint8Array, wanted: number): Promise<{ ms: number; rounds: string[][] }> => {
      s.trips.reset();
      const start = performance.now();
      const { response } = await s.sessions.apdu('bench', token, command);
      const elapsed = performance.now() - start;
      if (sw(response) !== wanted) throw new Error(`status ${sw(response).toString(16)}, expected ${wanted.toString(16)}`);
      return { ms: elapsed, rounds: s.trips.rounds() };
    };
    const counts: string[][] = [];
    const sequence: Array<[string, Uint8Array, number]> = [
      ['SELECT PIV', select(), 0x9000],
      ['GET DATA CHUID', getData(0x5fc102), 0x9000],
      ['VERIFY PIN (right)', verifyPin(PIN), 0x9000],
      ['GENERAL AUTHENTICATE P-256 (9A), PIN verified', generalAuthenticate(0x11, 0x9a, new Uint8Array(32).fill(7)), 0x9000],
      ['VERIFY PIN (wrong)', verifyPin('00000000'), 0x63c2],
    ];
    for (const [apdu, command, wanted] of sequence) {
      const { rounds } = await run(command, wanted);
      const storeRounds = rounds.filter((round) => round.some((call) => !call.startsWith('kms.'))).length;
      const kms = rounds.flat().filter((call) => call.startsWith('kms.'));
      // The previous code read the session first and the rest after it (one round more), and checked PINs
      // under a subkey derived once per container (no KMS call per VERIFY).
      const before = { rounds: storeRounds + 1, kms: kms.filter((call) => call !== 'kms.verifyMac').length };
      counts.push([
        label,
        apdu,
        `${before.rounds} → **${storeRounds}**`,
        String(rounds[0]!.length),
        `${before.kms} → ${kms.length}${kms.length ? ` (${[...new Set(kms.map((c) => c.slice(4)))].join(', ')})` : ''}`,
      ]);
    }
    await run(verifyPin(PIN), 0x9000); // restores the counter
    const verify: number[] = [];
    for (let i = 0; i < options.verifies; i++) verify.push((await run(verifyPin(PIN), 0x9000)).ms);
    // The PIN check alone, today's scheme and the previous one (scrypt of a subkey HMAC), on the same key.
    const owner = { tenant: 'bench', card: cardId, reference: 'pin' as const };
    const current = await s.pins.hash(owner, PIN);
    const subkey = await s.backend.cardPinKey.deriveSubkey(PIN_HASH_LABEL);
    const previous = `hmac-sha256+${await hashSecret(
      createHmac('sha256', subkey)
        .update(JSON.stringify(['card-pin', 'bench', cardId, 'pin', PIN]))
        .digest('base64url'),
    )}`;
    const timeCheck = async (stored: string, n: number): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const start = performance.now();
        if (!(await s.pins.check(owner, PIN, stored)).matches) throw new Error('the PIN check failed');
        samples.push(performance.now() - start);
      }
      return samples;
    };
    const row = (what: string, samples: number[]): string[] => {
      const summary = summarize(samples);
      return [label, what, String(summary.n), ms(summary.p50), ms(summary.p95)];
    };
    return {
      counts,
      timings: [
        row('VERIFY PIN (right) through `CardSessions.apdu`', verify),
        row('PIN check alone: `mac-v2` (one VerifyMac, or local HMAC)', await timeCheck(current, options.verifies)),
        row('PIN check alone: previous `hmac-sha256+scrypt` (scrypt N=2^15, 32 MiB; + the rehash)', await timeCheck(previous, options.scryptChecks)),
      ],
    };
  } finally {
    await s.backend.close();
  }
}

export async function benchPivRounds(options: PivRoundsOptions = PIV_ROUNDS_DEFAULTS): Promise<string> {
  const embedded = await measure('embedded', 'dynalite + local custody', options);
  const moto = await startMoto();
  let emulator: Awaited<ReturnType<typeof measure>>;
  try {
    process.env['CLOUDCARD_TEST_EMULATOR'] = moto.endpoint;
    process.env['CLOUDCARD_TEST_EMULATOR_KIND'] = 'moto';
    emulator = await measure('emulator', 'moto (DynamoDB + KMS)', options);
  } finally {
    moto.process.kill('SIGTERM');
  }
  return [
    'Sequential round trips per APDU (calls that overlap are one; the store column counts rounds with a DynamoDB call, the first being the reads), previous code → now:',
    '',
    table(
      ['backend', 'APDU (one session, in this order)', 'store round trips', 'calls in the first round', 'KMS calls'],
      [...embedded.counts, ...emulator.counts],
    ),
    '',
    'VERIFY, milliseconds (the PIN check alone: `PinHasher.check`):',
    '',
    table(['backend', 'what', 'n', 'p50 ms', 'p95 ms'], [...embedded.timings, ...emulator.timings]),
  ].join('\n');
}

// `node bench/piv-rounds.ts` runs this part alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.stdout.write(`${await benchPivRounds()}\n`);
}
