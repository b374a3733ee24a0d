import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CardApiClient, CardApiError, generateDeviceKey, type DeviceKey } from '../../agent/sdk.ts';
import type { EnrolResult } from '../../lambdas/core/cards/cards.ts';
import { directoryServices } from '../../lambdas/runtime.ts';
import type { LocalStack } from '../../local/stack.ts';
import { BACKENDS, testClock } from '../support/backends.ts';
import { cardAccessToken, generalAuthenticate, pkcs1Block, select, sw, verifyPin } from '../support/card-flows.ts';
import { startStackOn } from '../support/oidc-stack.ts';

/**
 * Card session renewal over HTTP: a renewal carries the verified PIN past the session's original lifetime,
 * within the tenant's policy (idle timeout, absolute maximum); a superseded session cannot renew; of
 * concurrent renewals exactly one wins; a disabled user's session cannot renew. Time moves by the test clock.
 */
describe.each(BACKENDS)('card session renewal on the %s backend', (backend) => {
  const clock = testClock();
  let stack: LocalStack;
  let enrolled: EnrolResult;
  let device: DeviceKey;
  let client: CardApiClient;
  let token: string;

  beforeAll(async () => {
    stack = await startStackOn(backend, { clock });
    const services = directoryServices(stack.runtime);
    await services.tenants.update('demo', { sessionLifetimes: { cardSessionSeconds: 60, cardPinIdleSeconds: 120, cardPinMaxSeconds: 300 } });
    enrolled = await services.cards!.enrol('demo', { username: 'alice', slots: ['9a'], pin: '24681357', puk: '86427531' });
    token = await cardAccessToken(stack);
    device = await generateDeviceKey();
    client = new CardApiClient({ tenantUrl: `${stack.url}/t/demo`, accessToken: () => token });
  });
  afterAll(async () => stack?.close());

  const sign = async (session: string): Promise<number> =>
    sw(await client.transmit(session, generalAuthenticate(0x07, 0x9a, pkcs1Block(Buffer.from('renewal'), 256))));
  const verified = async (): Promise<string> => {
    token = await cardAccessToken(stack); // the test clock moves past access token lifetimes
    const opened = await client.openSession(enrolled.card.id, device);
    expect(sw(await client.transmit(opened.session, select()))).toBe(0x9000);
    expect(sw(await client.transmit(opened.session, verifyPin('24681357')))).toBe(0x9000);
    return opened.session;
  };
  const refusal = async (promise: Promise<unknown>): Promise<CardApiError> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CardApiError);
    return error as CardApiError;
  };

  it('keeps the verified PIN across a renewal, past the original lifetime', async () => {
    const session = await verified();
    clock.advance(50);
    const renewed = await client.renew(session);
    expect(renewed.expiresAt).toBeGreaterThan(Math.floor(clock.now() / 1000) + 50);
    clock.advance(40); // 90 s after opening: the original 60 s lifetime is over
    expect(await sign(session)).toBe(0x9000);
  });

  it('without a renewal the session expires with its lifetime', async () => {
    const session = await verified();
    clock.advance(61);
    expect((await refusal(client.transmit(session, select()))).type).toBe('https://cloudcard.dev/problems/card-session-expired');
  });

  it('ends the session once the card was idle longer than the idle timeout', async () => {
    const session = await verified();
    clock.advance(55);
    await client.renew(session);
    clock.advance(55);
    await client.renew(session);
    clock.advance(15); // 125 s since the last APDU
    const ended = await refusal(client.renew(session));
    expect(ended.status).toBe(401);
    expect(ended.type).toBe('https://cloudcard.dev/problems/card-session-expired');
    expect(ended.message).toMatch(/idle/);
    expect((await refusal(client.transmit(session, select()))).status).toBe(401);
  });

  it('ends the session at the absolute maximum even when the card is in use', async () => {
    const session = await verified();
    let last = 0;
    for (let elapsed = 50; elapsed < 300; elapsed += 50) {
      clock.advance(50);
      expect(await sign(session)).toBe(0x9000);
      last = (await client.renew(session)).expiresAt;
    }
    const opened = Math.floor(clock.now() / 1000) - 250;
    expect(last).toBeLessThanOrEqual(opened + 300);
    clock.advance(50); // 300 s after opening
    // The last renewal capped the expiry at the maximum: the session is over, renewing cannot revive it.
    const ended = await refusal(client.renew(session));
    expect(ended.status).toBe(401);
    expect(ended.type).toBe('https://cloudcard.dev/problems/card-session-expired');
  });

  it('refuses to renew a superseded session (the card must leave the reader)', async () => {
    const first = await verified();
    await client.openSession(enrolled.card.id, device);
    const refused = await refusal(client.renew(first));
    expect(refused.status).toBe(409);
    expect(refused.type).toBe('https://cloudcard.dev/problems/card-session-superseded');
    expect(refused.mustRemoveCard).toBe(true);
  });

  it('of concurrent renewals, each either wins or is told another one did; at least one wins', async () => {
    const session = await verified();
    clock.advance(30);
    const outcomes = await Promise.all(
      [1, 2, 3].map(() =>
        client.renew(session).then(
          () => 'renewed',
          (e: unknown) => (e as CardApiError).type,
        ),
      ),
    );
    expect(outcomes).toContain('renewed');
    for (const outcome of outcomes) expect(['renewed', 'https://cloudcard.dev/problems/card-session-busy']).toContain(outcome);
    clock.advance(40);
    expect(await sign(session)).toBe(0x9000);
  });

  it('refuses to renew once the user is disabled (the single access check)', async () => {
    const session = await verified();
    await directoryServices(stack.runtime).users.disable('demo', 'alice');
    const refused = await refusal(client.renew(session));
    expect(refused.status).toBe(403);
    expect(refused.mustRemoveCard).toBe(true);
  });
});
