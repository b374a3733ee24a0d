import type { Tenant } from '../../core/directory/tenant.ts';
import { NO_BRANDING, type Branding } from '../../core/portal/branding.ts';
import { formatValue, messageParts, translate, type Locale, type MessageKey, type MessageValue } from '../../core/portal/i18n/index.ts';
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
 * Everything a portal page needs besides its content: its language (and the messages in it), the
 * tenant's branding and name, and the application signed in to. Built once per response by `viewOf`.
 */
export interface PageView {
  readonly locale: Locale;
  readonly branding: Branding;
  /** The organisation's name for people: the branding's product name, else the tenant's display name. */
  readonly org: string;
  readonly app?: AppIdentity;
  /** A message as markup: its text escaped, `Html` values kept, numbers and dates formatted with `Intl`. */
  t(key: MessageKey, values?: Readonly<Record<string, MessageValue | Html>>): Html;
  /** A message as plain text (a page title, an attribute). */
  text(key: MessageKey, values?: Readonly<Record<string, MessageValue>>): string;
}

export interface ViewSources {
  readonly acceptLanguage?: string | undefined;
  readonly tenant?: Tenant | undefined;
  readonly uiLocales?: string | undefined;
  readonly app?: AppIdentity | undefined;
}

export function viewOf({ acceptLanguage, tenant, uiLocales, app }: ViewSources): PageView {
  const branding = tenant?.branding ?? NO_BRANDING;
  const locale = chooseLocale({ uiLocales, acceptLanguage, tenantDefault: branding.defaultLocale });
  return {
    locale,
    branding,
    org: branding.productName ?? tenant?.displayName ?? '',
    ...(app ? { app } : {}),
    t: (key, values = {}) =>
      new Html(messageParts(locale, key, values, (value) => (value instanceof Html ? value.value : escapeHtml(formatValue(locale, value))), escapeHtml)),
    text: (key, values = {}) => translate(locale, key, values),
  };
}

/** The view of a page answering `request` for `tenant` (and the interaction's `ui_locales`, when an OIDC request named them). */
export const requestView = (request: ApiRequest, tenant?: Tenant, interaction?: Interaction, app?: AppIdentity): PageView =>
  viewOf({
    acceptLanguage: request.headers['accept-language'],
    tenant,
    uiLocales: interaction?.kind === 'authorize' ? interaction.request.uiLocales : undefined,
    app,
  });
