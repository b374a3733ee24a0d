import type { Tenant } from '../../core/directory/tenant.ts';
import { NO_BRANDING, type Branding } from '../../core/portal/branding.ts';
import { fillMessage, formatValue, type MessageValue } from '../../core/portal/i18n/format.ts';
import type { Locale } from '../../core/portal/i18n/locales.ts';
import { SHARED_CATALOGUES, type SharedKey } from '../../core/portal/i18n/shared.ts';
import { chooseLocale } from '../../core/portal/locale.ts';
import type { Interaction } from '../../core/oidc/interactions.ts';
import type { ApiRequest } from '../types.ts';
import { escapeHtml, Html } from './html.ts';

/** The application a sign-in is for, as the login page names it: only what an operator registered. */
export interface AppIdentity {
  readonly name: string;
  /** An https logo an operator registered (client `logo_uri`); the page's CSP then allows its origin for images. */
  readonly logoUri?: string;
}

/**
 * Everything a page needs besides its content: its language (and the messages in it), the tenant's
 * branding and name, and the application signed in to. Built once per response by `viewOf` (the messages
 * every function may show, `SharedKey`) or the portal's `portalView` (all of them).
 */
export interface PageView<K extends string = SharedKey> {
  readonly locale: Locale;
  readonly branding: Branding;
  /** The organisation's name for people: the branding's product name, else the tenant's display name. */
  readonly org: string;
  readonly app?: AppIdentity;
  /** A message as markup: its text escaped, `Html` values kept, numbers and dates formatted with `Intl`. */
  readonly t: (key: K, values?: Readonly<Record<string, MessageValue | Html>>) => Html;
  /** A message as plain text (a page title, an attribute). */
  readonly text: (key: K, values?: Readonly<Record<string, MessageValue>>) => string;
}

export interface ViewSources {
  readonly acceptLanguage?: string | undefined;
  readonly tenant?: Tenant | undefined;
  readonly uiLocales?: string | undefined;
  readonly app?: AppIdentity | undefined;
}

/** Per language, the messages a view can show. */
export type Catalogues<K extends string> = Readonly<Record<Locale, Readonly<Record<K, string>>>>;

/** A view showing `catalogues`' messages (one mechanism for the shared and the portal's full catalogues). */
export function viewWith<K extends string>(catalogues: Catalogues<K>, { acceptLanguage, tenant, uiLocales, app }: ViewSources): PageView<K> {
  const branding = tenant?.branding ?? NO_BRANDING;
  const locale = chooseLocale({ uiLocales, acceptLanguage, tenantDefault: branding.defaultLocale });
  const messages = catalogues[locale];
  const plain = (value: MessageValue): string => formatValue(locale, value);
  return {
    locale,
    branding,
    org: branding.productName ?? tenant?.displayName ?? '',
    ...(app ? { app } : {}),
    t: (key, values = {}) =>
      new Html(fillMessage(messages[key], values, (value) => (value instanceof Html ? value.value : escapeHtml(plain(value))), escapeHtml)),
    text: (key, values = {}) => fillMessage(messages[key], values, plain, (text) => text),
  };
}

/** A view with the messages every function may show (the frame's error pages, OIDC and SAML pages). */
export const viewOf = (sources: ViewSources): PageView => viewWith(SHARED_CATALOGUES, sources);

/** Where a page answering `request` takes its language and look from: the request, `tenant`, and the interaction's `ui_locales` when an OIDC request named them. */
export const sourcesOf = (request: ApiRequest, tenant?: Tenant, interaction?: Interaction, app?: AppIdentity): ViewSources => ({
  acceptLanguage: request.headers['accept-language'],
  tenant,
  uiLocales: interaction?.kind === 'authorize' ? interaction.request.uiLocales : undefined,
  app,
});

/** The view (shared messages) of a page answering `request`. */
export const requestView = (request: ApiRequest, tenant?: Tenant, interaction?: Interaction, app?: AppIdentity): PageView =>
  viewOf(sourcesOf(request, tenant, interaction, app));
