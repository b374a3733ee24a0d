import { ConflictError } from '../../../core/errors.ts';
import { opaqueHash, sameHash } from '../../../core/oidc/hashing.ts';
import type { Interaction } from '../../../core/oidc/interactions.ts';
import { CertificateLoginError, type CertificateLoginFailure } from '../../../core/pki/cert-login.ts';
import type { Route } from '../../router.ts';
import type { ApiRequest, ApiResponse } from '../../types.ts';
import { errorPage, redirect } from '../../views/pages.ts';
import { portalRequestView, type PortalView } from '../../views/portal-view.ts';
import { tenantContext } from '../oidc/common.ts';
import { completeAuthentication, expired, portalInteraction } from './common.ts';
import type { PortalDeps } from './deps.ts';

/** The one-time code carrying a certificate login back to the main origin lives this long. */
const TRANSFER_SECONDS = 60;

/** The status of each refusal; what the user reads (a title, what to do) is the catalogues' `cert.{reason}.*`. */
const FAILURE_STATUS: Readonly<Record<CertificateLoginFailure, number>> = {
  'no-certificate': 401,
  unreadable: 400,
  'untrusted-ca': 403,
  'not-valid-now': 403,
  'wrong-usage': 403,
  'unknown-certificate': 403,
  revoked: 403,
  'revocation-unknown': 403,
  'card-deleted': 403,
  'card-blocked': 403,
  'card-disconnected': 403,
  'no-mapping': 403,
  'unknown-user': 403,
  'user-disabled': 403,
  'wrong-user': 403,
};

export const certificateFailurePage = (view: PortalView, error: CertificateLoginError): ApiResponse =>
  errorPage(view, FAILURE_STATUS[error.reason], `cert.${error.reason}.title`, `cert.${error.reason}.text`, {}, `(${error.message}.)`);

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
    if (!tenant) return errorPage(portalRequestView(request), 404, 'error.unknownOrg.title', 'error.unknownOrg.text');
    // No interaction cookie here: it belongs to the main origin. The redemption there checks it.
    const interaction = await oidc.interactions.find(tenant.tenant.id, request.query['interaction'] ?? '');
    const view = portalRequestView(request, tenant.tenant, interaction);
    if (!interaction || !deps.certificateLogins) return expired(view);
    let signedIn;
    try {
      signedIn = await deps.certificateLogins.authenticate(
        tenant.tenant.id,
        request.clientCertificatePem,
        { sub: expectedSubject(interaction) },
        request.sourceIp,
      );
    } catch (error) {
      if (error instanceof CertificateLoginError) return certificateFailurePage(view, error);
      throw error;
    }
    const code = Buffer.from(oidc.random.bytes(32)).toString('base64url');
    const now = Math.floor(oidc.clock.now() / 1000);
    try {
      await oidc.interactions.update(interaction, {
        certificateTransfer: {
          codeHash: opaqueHash(code),
          expiresAt: now + TRANSFER_SECONDS,
          authentication: { sub: signedIn.sub, authTime: now, acr: signedIn.acr, amr: signedIn.amr },
        },
      });
    } catch (error) {
      if (error instanceof ConflictError) return expired(view);
      throw error;
    }
    return redirect(`${tenant.issuer}/portal/cert/complete?interaction=${interaction.id}&code=${code}`);
  }

  async function complete(request: ApiRequest): Promise<ApiResponse> {
    const found = await portalInteraction(deps, request);
    if ('statusCode' in found) return found;
    const { tenant, interaction, view } = found;
    const transfer = interaction.certificateTransfer;
    const now = Math.floor(oidc.clock.now() / 1000);
    if (!transfer || transfer.expiresAt < now || !sameHash(request.query['code'] ?? '', transfer.codeHash)) return expired(view);
    return completeAuthentication(deps, request, tenant, interaction, transfer.authentication);
  }

  return [
    { method: 'GET', path: '/t/:tenant/portal/cert', handle: login },
    { method: 'GET', path: '/t/:tenant/portal/cert/complete', handle: complete },
  ];
}
