import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { systemRandom } from '../../lambdas/adapters/system.ts';
import { Federations } from '../../lambdas/core/saml/federations.ts';
import { IssuedArtifacts } from '../../lambdas/core/saml/issued-artifacts.ts';
import { LogoutChain } from '../../lambdas/core/saml/logout-progress.ts';
import { SessionParticipants } from '../../lambdas/core/saml/session-participants.ts';
import { BACKENDS, openBackend, testClock, type Backend } from '../support/backends.ts';

const IDP = 'https://idp.example.test/t/demo/saml/metadata';
const SP = 'https://sp.example.test/metadata';
const OTHER = 'https://other.example.test/metadata';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

/**
 * The SAML protocol state against the real table adapters (dynalite and the AWS emulator): the
 * single-use and first-use guarantees under concurrency, expiry, and the GSI1 access patterns.
 */
describe.each(BACKENDS)('SAML protocol state on the %s backend', (name) => {
  const clock = testClock();
  let backend: Backend;
  let tenant: string;

  beforeAll(async () => {
    backend = await openBackend(name, clock);
  });
  afterAll(async () => backend?.close());
  // Every test in its own tenant: the tables are shared within the suite.
  const freshTenant = () => (tenant = `t${randomBytes(4).toString('hex')}`);

  describe('issued artifacts', () => {
    it('are taken exactly once when 20 resolutions race, and only by the SP they were issued to', async () => {
      freshTenant();
      const artifacts = new IssuedArtifacts(backend.state, clock, systemRandom);
      const artifact = await artifacts.issue(tenant, IDP, SP, '<samlp:Response/>', 'alice');
      expect(await artifacts.take(tenant, IDP, artifact, OTHER)).toBeUndefined();
      expect(await artifacts.take('another-tenant', IDP, artifact, SP)).toBeUndefined();
      const results = await Promise.all(Array.from({ length: 20 }, () => artifacts.take(tenant, IDP, artifact, SP)));
      const winners = results.filter((result) => result !== undefined);
      expect(winners).toEqual([{ message: '<samlp:Response/>', username: 'alice' }]);
    });

    it('keep the sign-in they carry (user, time, session) for the access check at resolution', async () => {
      freshTenant();
      const artifacts = new IssuedArtifacts(backend.state, clock, systemRandom);
      const grant = { user: 'alice', grantedAt: 1_700_000_000, sessionId: 'sid-1' };
      const artifact = await artifacts.issue(tenant, IDP, SP, '<samlp:Response/>', undefined, grant);
      expect(await artifacts.take(tenant, IDP, artifact, SP)).toEqual({ message: '<samlp:Response/>', grant });
    });

    it('expire after 60 seconds, and an artifact naming another issuer or index is never looked up', async () => {
      freshTenant();
      const artifacts = new IssuedArtifacts(backend.state, clock, systemRandom);
      const artifact = await artifacts.issue(tenant, IDP, SP, '<samlp:Response/>');
      expect(await artifacts.take(tenant, 'https://someone-else.example.test', artifact, SP)).toBeUndefined();
      clock.advance(61);
      try {
        expect(await artifacts.take(tenant, IDP, artifact, SP)).toBeUndefined();
      } finally {
        clock.advance(-61);
      }
      const bytes = Buffer.from(artifact, 'base64');
      bytes.writeUInt16BE(5, 2);
      expect(await artifacts.take(tenant, IDP, bytes.toString('base64'), SP)).toBeUndefined();
    });
  });

  describe('federations', () => {
    it('agree on one alias under 10 concurrent first logins, find it by alias (GSI1), and make a new one after Terminate', async () => {
      freshTenant();
      const federations = new Federations(backend.directory, systemRandom);
      const aliases = await Promise.all(Array.from({ length: 10 }, () => federations.aliasFor(tenant, SP, 'alice', clock.now())));
      expect(new Set(aliases).size).toBe(1);
      const alias = aliases[0]!;
      expect(alias).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // Another SP gets another pseudonym; the alias is found only within its own SP.
      expect(await federations.aliasFor(tenant, OTHER, 'alice', clock.now())).not.toBe(alias);
      const found = await federations.findByAlias(tenant, SP, alias);
      expect(found).toMatchObject({ username: 'alice', spEntityId: SP, alias });
      expect(await federations.findByAlias(tenant, OTHER, alias)).toBeUndefined();

      expect(await federations.link(tenant, found!, clock.now(), 'sp-id-1')).toBe(true);
      expect(await federations.find(tenant, SP, 'alice')).toMatchObject({ linked: true, spProvidedId: 'sp-id-1' });
      expect(await federations.terminate(tenant, found!)).toBe(true);
      // A stale copy can neither terminate nor link the next federation.
      const next = await federations.aliasFor(tenant, SP, 'alice', clock.now());
      expect(next).not.toBe(alias);
      expect(await federations.terminate(tenant, found!)).toBe(false);
      expect(await federations.link(tenant, found!, clock.now(), 'late')).toBe(false);
      expect(await federations.find(tenant, SP, 'alice')).toMatchObject({ alias: next });
      expect((await federations.find(tenant, SP, 'alice'))?.linked).toBeUndefined();
    });
  });

  describe('session participants and the logout chain', () => {
    it("lists a session's participants (GSI1) and finds a session by an SP's SessionIndex", async () => {
      freshTenant();
      const participants = new SessionParticipants(backend.state);
      const expiresAt = Math.floor(clock.now() / 1000) + 3600;
      await participants.record(tenant, 'session-a', { spEntityId: SP, nameId: 'n1', nameIdFormat: PERSISTENT, sessionIndex: 'sid-a' }, expiresAt);
      await participants.record(tenant, 'session-a', { spEntityId: OTHER, nameId: 'n2', nameIdFormat: PERSISTENT, sessionIndex: 'sid-a' }, expiresAt);
      await participants.record(tenant, 'session-b', { spEntityId: SP, nameId: 'n1', nameIdFormat: PERSISTENT, sessionIndex: 'sid-b' }, expiresAt);
      expect((await participants.ofSession(tenant, 'session-a')).map((participant) => participant.spEntityId).sort()).toEqual([OTHER, SP].sort());
      expect(await participants.ofSession('another-tenant', 'session-a')).toEqual([]);
      expect(await participants.bySessionIndex(tenant, SP, 'sid-b')).toMatchObject({ sessionHash: 'session-b', participant: { nameId: 'n1' } });
      expect(await participants.bySessionIndex(tenant, OTHER, 'sid-b')).toBeUndefined();
      clock.advance(3601);
      try {
        expect(await participants.ofSession(tenant, 'session-a')).toEqual([]);
        expect(await participants.bySessionIndex(tenant, SP, 'sid-a')).toBeUndefined();
      } finally {
        clock.advance(-3601);
      }
    });

    it('hands a logout step to the participant it waits for, once', async () => {
      freshTenant();
      const chain = new LogoutChain(backend.state, clock);
      await chain.save({ tenant, remaining: [], partial: false, pendingSp: SP, pendingRequestId: '_step1' });
      expect(await chain.take(tenant, '_step1', OTHER)).toBeUndefined();
      const results = await Promise.all(Array.from({ length: 10 }, () => chain.take(tenant, '_step1', SP)));
      expect(results.filter((result) => result !== undefined)).toHaveLength(1);
    });
  });
});
