import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { PolicedHttp, type Resolver } from '../../lambdas/adapters/outbound-http.ts';
import { Tenants } from '../../lambdas/core/directory/tenant.ts';
import { ServiceProviders } from '../../lambdas/core/saml/service-providers.ts';
import type { LocalStack } from '../../local/stack.ts';
import { startStackOn } from '../support/oidc-stack.ts';
import { ArtifactSp, BINDINGS } from '../support/saml-artifact-sp.ts';
import { closedPort, loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';

/**
 * The outbound URL policy through the public interface: SP registration and trusted issuers on the admin
 * API, SAMLart at /saml/sso (the IdP's SOAP call to the SP) and JWTs at the card API (the JWKS fetch),
 * with and without the local stack's loopback exception. Every listener is on loopback; names resolve
 * through a table, never through real DNS.
 */

const REBINDING = 'rebind.example.test';

/** A name with a public address until `rebind()` (after registration), then a loopback one. */
function rebindingResolver(): Resolver & { rebind(): void } {
  let rebound = false;
  const resolve = async (hostname: string) => {
    if (hostname !== REBINDING) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return rebound ? ['127.0.0.1'] : ['93.184.216.34'];
  };
  return Object.assign(resolve, { rebind: () => void (rebound = true) });
}

async function idpCertificate(stack: LocalStack): Promise<string> {
  const metadata = await (await fetch(`${stack.url}/t/demo/saml/metadata`)).text();
  return `-----BEGIN CERTIFICATE-----\n${/<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/.exec(metadata)![1]!}\n-----END CERTIFICATE-----\n`;
}

function adminCall(stack: LocalStack) {
  const auth = `Basic ${Buffer.from(`${stack.bootstrap.clientId}:${stack.bootstrap.clientSecret}`).toString('base64')}`;
  return async (method: string, path: string, body: string, contentType = 'application/json') => {
    const response = await fetch(`${stack.url}/t/demo/admin/v1${path}`, { method, headers: { Authorization: auth, 'Content-Type': contentType }, body });
    return { status: response.status, body: (await response.json()) as { detail?: string; issues?: string[] } };
  };
}

/** The SP sends an AuthnRequest by artifact; the IdP must resolve it at the SP's ArtifactResolutionService. */
async function ssoByArtifact(stack: LocalStack, sp: ArtifactSp): Promise<Response> {
  const samlArt = sp.sendByArtifact(sp.authnRequest(`${stack.url}/t/demo/saml/sso`, { binding: BINDINGS.post }));
  return fetch(`${stack.url}/t/demo/saml/sso?SAMLart=${encodeURIComponent(samlArt)}`, { redirect: 'manual' });
}

/** The metadata of `sp` with its SOAP endpoints moved to `base`. */
const movedTo = (sp: ArtifactSp, base: string): string => sp.metadata().replaceAll(sp.base, base);

async function trustedIssuerToken(): Promise<{ jwks: object; token: (aud?: string) => Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return {
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] },
    token: (aud = 'cloudcard') =>
      new SignJWT({ preferred_username: 'alice' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://idp.example.test')
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey),
  };
}
const cardTokens = (stack: LocalStack, bearer: string) =>
  fetch(`${stack.url}/t/demo/card/v1/tokens`, { method: 'POST', headers: { Authorization: `Bearer ${bearer}` } });

interface Fixture {
  stack: LocalStack;
  sp: ArtifactSp;
  jwksServer: LoopbackServer;
  issuer: Awaited<ReturnType<typeof trustedIssuerToken>>;
}

/** A stack with the given outbound options, a loopback artifact SP and a loopback JWKS of a trusted issuer. */
async function startFixture(outbound: NonNullable<Parameters<typeof startStackOn>[1]>['outbound']): Promise<Fixture> {
  const stack = await startStackOn('embedded', { outbound });
  const sp = await ArtifactSp.start('https://loopback-sp.example.test/metadata');
  sp.idpCertPem = await idpCertificate(stack);
  const issuer = await trustedIssuerToken();
  const jwksServer = await loopbackServer((_request, response) =>
    response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(issuer.jwks)),
  );
  return { stack, sp, jwksServer, issuer };
}

async function stopFixture(fixture: Partial<Fixture>): Promise<void> {
  await fixture.sp?.close();
  await fixture.jwksServer?.close();
  await fixture.stack?.close();
}

describe('outbound URL policy without the loopback exception (as deployed)', () => {
  let stack: LocalStack;
  let sp: ArtifactSp;
  let jwksServer: LoopbackServer;
  let issuer: Awaited<ReturnType<typeof trustedIssuerToken>>;
  const resolver = rebindingResolver();

  beforeAll(async () => {
    ({ stack, sp, jwksServer, issuer } = await startFixture({ allowLoopback: false, resolve: resolver }));
  });
  afterAll(async () => stopFixture({ stack, sp, jwksServer }));

  it('refuses at registration an SP whose SOAP endpoints are on loopback', async () => {
    const refused = await adminCall(stack)('POST', '/service-providers', sp.metadata(), 'application/samlmetadata+xml');
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toBe(`the SOAP ArtifactResolutionService Location ${sp.base}/ars must be https`);
    const literal = await adminCall(stack)('POST', '/service-providers', movedTo(sp, `https://[::ffff:169.254.169.254]`), 'application/samlmetadata+xml');
    expect(literal.status).toBe(400);
    expect(literal.body.detail).toMatch(/must not point at ::ffff:a9fe:a9fe, a link-local address/);
  });

  it('refuses at registration a trusted issuer whose JWKS is on loopback', async () => {
    for (const jwksUri of [`${jwksServer.url}/jwks`, `https://127.0.0.1:${jwksServer.port}/jwks`, 'https://localhost/jwks', 'https://[fd00:ec2::254]/jwks']) {
      const refused = await adminCall(stack)(
        'PATCH',
        '/tenant',
        JSON.stringify({ trustedIssuers: [{ issuer: 'https://idp.example.test', jwksUri, audience: 'cloudcard', userClaim: 'preferred_username' }] }),
      );
      expect(refused.status).toBe(400);
      expect(refused.body.issues!.join('\n')).toMatch(/^trustedIssuers\.0\.jwksUri: (must be https|must not point at)/);
    }
  });

  it('refuses at call time an SP registered before with a loopback ArtifactResolutionService: a generic error page, nothing sent', async () => {
    // Registered under a laxer policy (data from before this rule, or from a local stack).
    const lax = new ServiceProviders(stack.runtime.directory, stack.runtime.clock, new PolicedHttp({ policy: { allowLoopback: true } }));
    await lax.register('demo', sp.metadata());
    try {
      const response = await ssoByArtifact(stack, sp);
      expect(response.status).toBe(400);
      const text = await response.text();
      expect(text).toContain('the service provider could not be reached');
      expect(text).not.toMatch(/127\.0\.0\.1|https|ECONNREFUSED|HTTP \d/);
      expect(sp.received).toEqual([]);
    } finally {
      await lax.remove('demo', sp.entityId);
    }
  });

  it('refuses at call time a trusted issuer stored before with a loopback JWKS: 401, nothing fetched', async () => {
    const lax = new Tenants(stack.runtime.directory, stack.runtime.clock, 'wrapped', { outbound: new PolicedHttp({ policy: { allowLoopback: true } }) });
    await lax.update('demo', {
      trustedIssuers: [{ issuer: 'https://idp.example.test', jwksUri: `${jwksServer.url}/jwks`, audience: 'cloudcard', userClaim: 'preferred_username' }],
    });
    try {
      expect((await cardTokens(stack, await issuer.token())).status).toBe(401);
      expect(jwksServer.seen).toEqual([]);
    } finally {
      await lax.update('demo', { trustedIssuers: [] });
    }
  });

  it('refuses a rebinding name at call time: public at registration, loopback when the IdP calls', async () => {
    const rebound = await ArtifactSp.start('https://rebinding-sp.example.test/metadata');
    rebound.idpCertPem = sp.idpCertPem;
    try {
      const registered = await adminCall(stack)(
        'POST',
        '/service-providers',
        movedTo(rebound, `https://${REBINDING}:${new URL(rebound.base).port}`),
        'application/samlmetadata+xml',
      );
      expect(registered.status).toBe(201);
      resolver.rebind();
      const response = await ssoByArtifact(stack, rebound);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('the service provider could not be reached');
      expect(rebound.received).toEqual([]);
    } finally {
      await rebound.close();
    }
  });
});

describe('outbound URL policy with the local stack’s loopback exception', () => {
  let stack: LocalStack;
  let sp: ArtifactSp;
  let jwksServer: LoopbackServer;
  let issuer: Awaited<ReturnType<typeof trustedIssuerToken>>;

  beforeAll(async () => {
    ({ stack, sp, jwksServer, issuer } = await startFixture({ allowLoopback: true }));
  });
  afterAll(async () => stopFixture({ stack, sp, jwksServer }));

  it('registers a loopback SP and resolves its artifact over SOAP', async () => {
    expect((await adminCall(stack)('POST', '/service-providers', sp.metadata(), 'application/samlmetadata+xml')).status).toBe(201);
    const response = await ssoByArtifact(stack, sp);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toContain('/portal/');
    expect(sp.received).toHaveLength(1);
  });

  it('still refuses a private, link-local or plain-http non-loopback endpoint', async () => {
    for (const base of ['https://10.0.0.1', 'https://169.254.169.254', 'http://sp.example.test']) {
      const other = await ArtifactSp.start(`https://other-${base.length}.example.test/metadata`);
      try {
        expect((await adminCall(stack)('POST', '/service-providers', movedTo(other, base), 'application/samlmetadata+xml')).status).toBe(400);
      } finally {
        await other.close();
      }
    }
  });

  it('registers a loopback JWKS and verifies the trusted issuer’s tokens with it', async () => {
    const patched = await adminCall(stack)(
      'PATCH',
      '/tenant',
      JSON.stringify({
        trustedIssuers: [{ issuer: 'https://idp.example.test', jwksUri: `${jwksServer.url}/jwks`, audience: 'cloudcard', userClaim: 'preferred_username' }],
      }),
    );
    expect(patched.status).toBe(200);
    expect((await cardTokens(stack, await issuer.token())).status).toBe(200);
    expect(jwksServer.seen).toEqual(['GET /jwks']);
  });

  it('shows the same error page whether the SP answered HTTP 418 or refused the connection', async () => {
    const teapot = await loopbackServer((_request, response) => response.writeHead(418, { 'Content-Type': 'text/plain' }).end("I'm a teapot"));
    const brewing = await ArtifactSp.start('https://teapot-sp.example.test/metadata');
    const refusing = await ArtifactSp.start('https://refusing-sp.example.test/metadata');
    try {
      expect((await adminCall(stack)('POST', '/service-providers', movedTo(brewing, teapot.url), 'application/samlmetadata+xml')).status).toBe(201);
      expect(
        (await adminCall(stack)('POST', '/service-providers', movedTo(refusing, `http://127.0.0.1:${await closedPort()}`), 'application/samlmetadata+xml'))
          .status,
      ).toBe(201);
      const answered418 = await ssoByArtifact(stack, brewing);
      const refused = await ssoByArtifact(stack, refusing);
      expect(teapot.seen).toEqual(['POST /ars']);
      expect([answered418.status, refused.status]).toEqual([400, 400]);
      const [page418, pageRefused] = [await answered418.text(), await refused.text()];
      expect(page418).toBe(pageRefused);
      expect(page418).toContain('the service provider could not be reached');
      expect(page418).not.toMatch(/418|teapot|refused the connection|ECONNREFUSED|fetch failed/i);
    } finally {
      await teapot.close();
      await brewing.close();
      await refusing.close();
    }
  });
});
