import { performance } from 'node:perf_hooks';
import { systemClock, systemRandom } from '../lambdas/adapters/system.ts';
import { CardAuthority } from '../lambdas/core/cards/authority.ts';
import { cardKeys, type CardItem } from '../lambdas/core/cards/card-item.ts';
import { CardLists } from '../lambdas/core/cards/card-list.ts';
import { Cards } from '../lambdas/core/cards/cards.ts';
import { PinHasher } from '../lambdas/core/cards/pin-hash.ts';
import { WrappedSlotKeys } from '../lambdas/core/cards/slot-keys.ts';
import { Tenants } from '../lambdas/core/directory/tenant.ts';
import { Users } from '../lambdas/core/directory/user.ts';
import { openBackend } from '../test/support/backends.ts';
import { ms, summarize, table } from './stats.ts';

export const SCALE_BENCH_DEFAULTS = { smallUsers: 100, largeUsers: 10_000, cards: 10_000, pages: 20, lists: 5 } as const;
export type ScaleBenchOptions = { -readonly [K in keyof typeof SCALE_BENCH_DEFAULTS]: number };

/** Runs `work` over `count` indexes, `width` at a time (setup only: not measured). */
async function inParallel(count: number, width: number, work: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i += width) await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, j) => work(i + j)));
}

async function timed(runs: number, work: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  return samples;
}

/**
 * How the admin listings and the card list grow with a tenant's size, in process on the embedded store
 * (dynalite) with local custody: the first page of `GET /admin/v1/users` (Users.list, 100 a page) in a
 * tenant of `smallUsers` and of `largeUsers` users, side by side; then "get tokens" (CardLists.forUser:
 * every card of the user, read 1000 a page, and the signed manifest) for a user holding `cards` cards.
 */
export async function benchScale(options: ScaleBenchOptions): Promise<string> {
  const backend = await openBackend('embedded', systemClock);
  try {
    const tenants = new Tenants(backend.directory, systemClock);
    const users = new Users(backend.directory, tenants, systemClock);
    await tenants.create({ id: 'small' });
    await tenants.create({ id: 'large' });
    const name = (i: number) => `user${String(i).padStart(5, '0')}`;
    await inParallel(options.smallUsers, 25, (i) => users.add('small', { username: name(i) }));
    await inParallel(options.largeUsers, 25, (i) => users.add('large', { username: name(i) }));
    // Warm-up, then the two tenants' first pages in turn so load changes hit both alike.
    for (let i = 0; i < 5; i++) await Promise.all([users.list('small'), users.list('large')]);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < options.pages; i++) {
      small.push(...(await timed(1, () => users.list('small'))));
      large.push(...(await timed(1, () => users.list('large'))));
    }
    const lastPage = await timed(3, async () => {
      const first = await users.list('large', { limit: 1000 });
      return first.users.length;
    });
    const s = summarize(small);
    const l = summarize(large);
    const userRows = [
      [`${options.smallUsers.toLocaleString('en')} users`, 'first page (100)', String(options.pages), ms(s.p50), ms(s.p95)],
      [`${options.largeUsers.toLocaleString('en')} users`, 'first page (100)', String(options.pages), ms(l.p50), ms(l.p95)],
      [
        '**ratio**',
        `${options.largeUsers.toLocaleString('en')} / ${options.smallUsers.toLocaleString('en')}`,
        '',
        `${(l.p50 / s.p50).toFixed(2)}x`,
        `${(l.p95 / s.p95).toFixed(2)}x`,
      ],
      [`${options.largeUsers.toLocaleString('en')} users`, 'a page of 1000 (limit=1000)', '3', ms(summarize(lastPage).p50), ms(summarize(lastPage).p95)],
    ];

    // One enrolled card (real keys, certificates, the tenant's card-list key), cloned into `cards` cards of one user.
    const cards = new Cards({
      directory: backend.directory,
      custody: backend.custody,
      slotKeys: { wrapped: new WrappedSlotKeys(backend.custody) },
      authority: new CardAuthority(backend.directory, backend.residentKeys, systemClock),
      pins: new PinHasher(backend.cardPinKey),
      tenants,
      users,
      clock: systemClock,
      random: systemRandom,
    });
    const enrolled = await cards.enrol('large', { username: name(0), slots: ['9a', '9e'], algorithm: 'p256', pin: '123456', puk: '12345678' });
    const item = (await backend.directory.get<CardItem>(cardKeys.card('large', enrolled.card.id)))!;
    await inParallel(options.cards - 1, 25, (i) => {
      const id = `bench${String(i).padStart(8, '0')}`;
      return backend.directory.put({ ...item, ...cardKeys.card('large', id), ...cardKeys.byUser('large', name(0), id), id, serial: item.serial + i + 1 });
    });
    const lists = new CardLists(cards, backend.directory, backend.residentKeys);
    let size = 0;
    let count = 0;
    const listing = await timed(options.lists, async () => {
      const list = await lists.forUser('large', name(0), 'https://idp.example/t/large', Date.now());
      size = list.signed?.length ?? 0;
      count = list.cards.length;
    });
    const reading = await timed(options.lists, async () => {
      let cursor: string | undefined;
      do cursor = (await cards.listItems('large', { username: name(0), limit: 1000, ...(cursor ? { cursor } : {}) })).cursor;
      while (cursor);
    });
    const r = summarize(reading);
    const f = summarize(listing);
    const cardRows = [
      [`read the user's ${count.toLocaleString('en')} cards (GSI1, pages of 1000)`, String(options.lists), ms(r.p50), ms(r.p95)],
      [`card list: read + manifest + ES256 signature (JWS ${(size / 1024).toFixed(0)} KiB)`, String(options.lists), ms(f.p50), ms(f.p95)],
      ['card list: manifest + signature alone (difference of p50s)', '', ms(f.p50 - r.p50), ''],
    ];
    return [
      'Admin user listing, first page (`Users.list`, the `GET /admin/v1/users` handler without HTTP), embedded store, the two tenants in turn:',
      '',
      table(['tenant', 'page', 'n', 'p50 ms', 'p95 ms'], userRows),
      '',
      `Card list signing ("get tokens", \`CardLists.forUser\`) for one user holding ${count.toLocaleString('en')} cards (one enrolled P-256 card with 9A and 9E certificates, cloned), local resident keys:`,
      '',
      table(['step', 'n', 'p50 ms', 'p95 ms'], cardRows),
    ].join('\n');
  } finally {
    await backend.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(
    `${await benchScale({ ...SCALE_BENCH_DEFAULTS, ...(process.env['BENCH_SCALE_USERS'] ? { largeUsers: Number(process.env['BENCH_SCALE_USERS']), cards: Number(process.env['BENCH_SCALE_USERS']) } : {}) })}\n`,
  );
}
