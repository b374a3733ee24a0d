import { DEFAULT_LOCALE, isLocale, LOCALES, type Locale } from './i18n/locales.ts';

/** The supported language a BCP 47 tag names, by its primary subtag (`de-CH` → `de`), if any. */
export function supportedLocale(tag: string): Locale | undefined {
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0];
  return isLocale(primary) ? primary : undefined;
}

/** `Accept-Language` (RFC 9110 §12.5.4) ranges by descending quality; `*` and q=0 are dropped. */
function acceptedTags(header: string): string[] {
  return header
    .split(',')
    .map((range, index) => {
      const [tag = '', ...parameters] = range.split(';').map((part) => part.trim());
      const q = parameters.find((p) => p.toLowerCase().startsWith('q='));
      const quality = q === undefined ? 1 : Number(q.slice(2));
      return { tag, quality: Number.isFinite(quality) ? quality : 0, index };
    })
    .filter((range) => range.tag && range.tag !== '*' && range.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.index - b.index)
    .map((range) => range.tag);
}

export interface LocaleSources {
  /** OIDC `ui_locales`: space-separated tags in order of preference (OIDC Core §3.1.2.1). */
  readonly uiLocales?: string | undefined;
  readonly acceptLanguage?: string | undefined;
  /** The tenant's default (its branding). */
  readonly tenantDefault?: string | undefined;
}

/**
 * The portal's language for one page: the first supported tag of the application's `ui_locales`, then of
 * the browser's `Accept-Language`, then the tenant's default, then English.
 */
export function chooseLocale({ uiLocales, acceptLanguage, tenantDefault }: LocaleSources): Locale {
  for (const tag of (uiLocales ?? '').split(' ').filter(Boolean)) {
    const found = supportedLocale(tag);
    if (found) return found;
  }
  for (const tag of acceptedTags(acceptLanguage ?? '')) {
    const found = supportedLocale(tag);
    if (found) return found;
  }
  return isLocale(tenantDefault) ? tenantDefault : DEFAULT_LOCALE;
}

export { LOCALES };
