/**
 * Property tests: random and mutated APDUs (from a corpus of valid ones), in random sequences and from any
 * stored state, always give a well-formed response APDU ending in a status word the application defines,
 * never throw, and leave a JSON-serialisable, bounded, valid session state.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { handleApdu, newSessionState, type PivSessionState } from '../../../lambdas/core/piv/index.ts';
import { validSessionState } from '../../../lambdas/core/piv/session.ts';
import { MemoryPivCard } from '../../support/piv-memory-card.ts';
import { provisionedCard } from './fixtures.ts';
import { hex, pinBlock, realRandom } from './harness.ts';

const CORPUS: Uint8Array[] = [
  hex('00A4040009A0000003080000100000'),
  hex('00A4040005A000000308'),
  hex('00CB3FFF035C017E00'),
  hex('00CB3FFF055C035FC10200'),
  hex('00CB3FFF055C035FC10500'),
  hex('00CB3FFF055C035FC10900'),
  hex('00200080'),
  hex('0020008000'),
  Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, ...pinBlock('123456')]),
  Uint8Array.from([0x00, 0x24, 0x00, 0x80, 0x10, ...pinBlock('123456'), ...pinBlock('123456')]),
  hex('0020FF80'),
  hex('00C0000000'),
  hex('0087039B047C02800000'),
  hex('0087039B047C02810000'),
  Uint8Array.from([0x00, 0x87, 0x11, 0x9e, 0x26, 0x7c, 0x24, 0x82, 0x00, 0x81, 0x20, ...new Uint8Array(32).fill(9), 0x00]),
  Uint8Array.from([0x10, 0x87, 0x07, 0x9a, 0xff, 0x7c, 0x82, 0x01, 0x06, 0x82, 0x00, 0x81, 0x82, 0x01, 0x00, 0x00, 0x01, ...new Uint8Array(243).fill(0xff)]),
  Uint8Array.from([0x00, 0x87, 0x07, 0x9a, 0x0b, ...new Uint8Array(11).fill(0xff), 0x00]),
  hex('0047009A05AC03800111'),
  hex('00DB3FFF085C035FC1055300'),
  hex('00FD000000'),
  hex('00F8000000'),
  hex('00F7008000'),
  hex('00F7009B00'),
  hex('00F7009A00'),
  hex('00FB000000'),
  hex('00FFFFFF1B039B18010203040506070801020304050607080102030405060708'),
  hex('00CB3FFF0000055C035FC1050000'),
];

const ALLOWED = new Set([
  0x9000, 0x6700, 0x6883, 0x6884, 0x6982, 0x6983, 0x6984, 0x6985, 0x6a80, 0x6a81, 0x6a82, 0x6a84, 0x6a86, 0x6a88, 0x6d00, 0x6e00, 0x6f00,
]);

function wellFormedSw(sw: number): boolean {
  return ALLOWED.has(sw) || (sw & 0xff00) === 0x6100 || (sw & 0xfff0) === 0x63c0;
}

const mutated = fc
  .tuple(
    fc.constantFrom(...CORPUS),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.integer({ min: -6, max: 6 }),
    fc.boolean(),
  )
  .map(([base, flips, resize, chain]) => {
    const bytes = Array.from(base);
    for (const [position, value] of flips) if (bytes.length) bytes[position % bytes.length] = value;
    if (resize < 0) bytes.length = Math.max(0, bytes.length + resize);
    else for (let i = 0; i < resize; i++) bytes.push((i * 37) & 0xff);
    if (chain && bytes.length) bytes[0] = bytes[0]! | 0x10;
    return Uint8Array.from(bytes);
  });

const anyApdu = fc.oneof(
  { weight: 3, arbitrary: mutated },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(...CORPUS) },
);

/** A session with PIN and 9B authenticated, so the privileged commands (GENERATE, PUT DATA, ...) get fuzzed too. */
const PRIVILEGED: PivSessionState = { version: 1, pinVerified: true, pinJustVerified: true, adminAuthenticated: true };

let card: MemoryPivCard;
beforeAll(async () => {
  card = (await provisionedCard({ pinTries: 10 })).card;
});

async function step(command: Uint8Array, state: PivSessionState): Promise<PivSessionState> {
  const result = await handleApdu(command, state, { card, random: realRandom });
  expect(result.response.length).toBeGreaterThanOrEqual(2);
  const sw = (result.response.at(-2)! << 8) | result.response.at(-1)!;
  expect(wellFormedSw(sw)).toBe(true);
  expect(result.trace.sw).toBe(sw);
  if (sw !== 0x9000 && (sw & 0xff00) !== 0x6100) expect(result.response.length).toBe(2);
  const json = JSON.stringify(result.state);
  expect(json.length).toBeLessThan(20_000);
  const back = JSON.parse(json) as PivSessionState;
  expect(back).toEqual(result.state);
  expect(validSessionState(back)).toBeDefined();
  return back;
}

describe('PIV application properties', () => {
  it('any sequence of random and mutated APDUs, from power-on or a privileged session: well-formed answers, bounded serialisable state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<PivSessionState>(newSessionState(), PRIVILEGED),
        fc.array(anyApdu, { minLength: 1, maxLength: 12 }),
        async (start, commands) => {
          let state = start;
          for (const command of commands) state = await step(command, state);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('any stored state, however malformed, is either honoured or treated as power-on, never a crash', async () => {
    const fakeState = fc.oneof(
      fc.anything(),
      fc.record({
        version: fc.constantFrom(1, 2),
        pinVerified: fc.boolean(),
        pinJustVerified: fc.boolean(),
        adminAuthenticated: fc.boolean(),
        chain: fc.option(fc.record({ ins: fc.integer({ min: -1, max: 300 }), p1: fc.nat(300), p2: fc.nat(300), data: fc.base64String({ maxLength: 40 }) }), {
          nil: undefined,
        }),
        pendingResponse: fc.option(fc.oneof(fc.base64String({ maxLength: 40 }), fc.string()), { nil: undefined }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fakeState, anyApdu, async (state, command) => {
        await step(command, state as PivSessionState);
      }),
      { numRuns: 400 },
    );
  });
});
