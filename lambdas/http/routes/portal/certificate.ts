import { ConflictError } from '../../../core/errors.ts';
import { opaqueHash, sameHash } from '../../../core/oidc/hashing.ts';
import type { Interaction } from '../../../core/oidc/interactions.ts';
import { CertificateLoginError, type CertificateLoginFailure } from '../../../core/pki/cert-login.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { tenantContext } from '../oidc/common.ts';
import { completeAuthentication, expired, portalInteraction } from './common.ts';
import type { PortalDeps } from './deps.ts';

/** The one-time code carrying a certificate login back to the main origin lives this long. */
const TRANSFER_SECONDS = 60;

/** What the user reads for each refusal: a title and what to do about it. */
const FAILURE_PAGES: Readonly<Record<CertificateLoginFailure, { status: number; title: string; advice: string }>> = {
  'no-certificate': { status: 401, title: 'No smart card certificate', advice: 'Your browser sent no certificate. Insert your card (start the cloudcard agent), then try again and choose its certificate when asked.' },
  unreadable: { status: 400, title: 'Certificate not readable', advice: 'The certificate your browser sent could not be read.' },
  'untrusted-ca': { status: 403, title: 'Certificate not trusted', advice: 'This organisation does not accept certificates from the authority that issued yours.' },
  'not-valid-now': { status: 403, title: 'Certificate expired or not yet valid', advice: 'Ask your administrator for a new card certificate.' },
  'wrong-usage': { status: 403, title: 'Certificate not for sign-in', advice: 'Choose your card’s authentication certificate (PIV slot 9A), not its signing or encryption certificate.' },
  'unknown-certificate': { status: 403, title: 'Unknown card certificate', advice: 'This certificate does not belong to a card of this organisation.' },
  revoked: { status: 403, title: 'Certificate revoked', advice: 'This card certificate was revoked. Ask your administrator for a new card.' },
  'card-deleted': { status: 403, title: 'Card deleted', advice: 'The card of this certificate no longer exists.' },
  'card-blocked': { status: 403, title: 'Card blocked', advice: 'The PIN of this card is blocked. Ask your administrator to unblock it.' },
  'card-disconnected': { status: 403, title: 'Card not connected', advice: 'This card is not connected (an administrator disconnected it, or the agent is not running). Insert it again with the cloudcard agent and retry.' },
  'no-mapping': { status: 403, title: 'Certificate not linked to a user', advice: 'This certificate does not name a user of this organisation.' },
  'unknown-user': { status: 403, title: 'Certificate not linked to a user', advice: 'No user of this organisation matches this certificate.' },
  'user-disabled': { status: 403, title: 'Account disabled', advice: 'Your account is disabled.' },
  'wrong-user': { status: 403, title: 'Wrong card', advice: 'This card belongs to another user than the one signing in. Use your own card.' },
};

export const certificateFailurePage = (error: CertificateLoginError): ApiResponse => {
  const shown = FAILURE_PAGES[error.reason];
  return errorPage(shown.status, shown.title, `${shown.advice} (${error.message}.)`);
};

/** The user the request is for, when it names one (a valid id_token_hint): another user's card is the wrong card. */
const expectedSubject = (interaction: Interaction): string | undefined => (interaction.kind === 'authorize' ? interaction.request.idTokenHintSub : undefined);

/**
 * Certificate (smart-card) login. `GET /portal/cert` runs on the mutual-TLS origin: the certificate
 * decides who signs in (core/pki/cert-login.ts), and the browser goes back to the main origin with a
 * one-time code. `GET /portal/cert/complete` on the main origin redeems it — only with the interaction's
 * cookie, so a code cannot finish anyone else's sign-in — and starts the SSO session there, the same as
 * a password login. Cookies are never shared between the two origins.
 */
export function certificateRoutes(deps: PortalDeps): Route[] {
  const { oidc } = deps;

  async function login(request: ApiRequest): Promise<ApiResponse> {
    const tenant = await tenantContext(deps.tenants, request).catch(() => undefined);
    if (!tenant) return errorPage(404, 'Unknown organisation', 'This sign-in page names an organisation that does not exist.');
    // No interaction cookie here: it belongs to the main origin. The redemption there checks it.
    const interaction = await oidc.interactions.find(tenant.tenant.id, request.query['interaction'] ?? '');
    if (!interaction || !deps.certificateLogins) return expired();
    let signedIn;
    try {
      signedIn = await deps.certificateLogins.authenticate(tenant.tenant.id, request.clientCertificatePem, { sub: expectedSubject(interaction) });
    } catch (error) {
      if (error instanceof CertificateLoginError) return certificateFailurePage(error);
      throw error;
    }
    const code = Buffer.from(oidc.random.bytes(32)).toString('base64url');
    const now = Math.floor(oidc.clock.now() / 1000);
    try {
      await oidc.interactions.update(interaction, {
        certificateTransfer: { codeHash: opaqueHash(code), expiresAt: now + TRANSFER_SECONDS, authentication: { sub: signedIn.sub, authTime: now, acr: signedIn.acr, amr: signedIn.amr } },
      });
    } catch (error) {
      if (error instanceof ConflictError) return expired();
      throw error;
    }
    return redirect(`${tenant.issuer}/portal/cert/complete?interaction=${interaction.id}&code=${code}`);
  }

  async function complete(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction } = found;
    const transfer = interaction.certificateTransfer;
    const now = Math.floor(oidc.clock.now() / 1000);
    if (!transfer || transfer.expiresAt < now || !sameHash(request.query['code'] ?? '', transfer.codeHash)) return expired();
    return completeAuthentication(deps, request, tenant, interaction, transfer.authentication);
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/cert', handle: login },
    { method: 'GET', path: '/t/:tenant/portal/cert/complete', handle: complete },
  ];
}
