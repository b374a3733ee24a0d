/**
 * The languages the portal speaks: discovery's `ui_locales_supported` is exactly this list. Apart from
 * the catalogues so that validating a tenant's default language does not bundle every message.
 */
export const LOCALES = ['en', 'de', 'fr'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

export const isLocale = (value: unknown): value is Locale => typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
