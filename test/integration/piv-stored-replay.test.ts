import { afterAll, beforeAll } from '@jest/globals';
import { systemRandom } from '../../lambdas/adapters/system.ts';
import { CardAuthority } from '../../lambdas/core/cards/authority.ts';
import { Cards } from '../../lambdas/core/cards/cards.ts';
import { PinHasher } from '../../lambdas/core/cards/pin-hash.ts';
import { ResidentSlotKeys, WrappedSlotKeys } from '../../lambdas/core/cards/slot-keys.ts';
import { Tenants } from '../../lambdas/core/directory/tenant.ts';
import { Users } from '../../lambdas/core/directory/user.ts';
import { openBackend, testClock, type Backend } from '../support/backends.ts';
import { openscReplays } from '../unit/piv/replays/opensc.ts';
import { yubicoReplays } from '../unit/piv/replays/yubico.ts';

const clock = testClock();
let backend: Backend;
let cards: Cards;
let tenants: Tenants;
beforeAll(async () => {
  backend = await openBackend('embedded', clock);
  tenants = new Tenants(backend.directory, clock);
  const users = new Users(backend.directory, tenants, clock);
  cards = new Cards({
    directory: backend.directory,
    custody: backend.custody,
    slotKeys: { wrapped: new WrappedSlotKeys(backend.custody), 'kms-resident': new ResidentSlotKeys(backend.residentKeys) },
    authority: new CardAuthority(backend.directory, backend.residentKeys, clock),
    pins: new PinHasher(backend.cardPinKey),
    tenants,
    users,
    clock,
    random: systemRandom,
  });
  // The replays set 3DES and AES-128 management keys: the tenant allows any (the card API tests cover the limits).
  await tenants.create({ id: 'acme', cards: { managementAlgorithm: '3des' } });
  await users.add('acme', { username: 'alice', email: 'alice@example.com' });
}, 60_000);
afterAll(async () => backend?.close());
const fresh = async () => {
  const { card } = await cards.enrol('acme', { username: 'alice', slots: ['9a'], pin: '123456', puk: '12345678' });
  return cards.openView(await cards.item('acme', card.id), (await tenants.get('acme')).pinPolicy);
};
openscReplays('stored card', fresh);
yubicoReplays('stored card', fresh, { wipeable: false });
