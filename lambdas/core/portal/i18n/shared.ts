import type { Locale } from './locales.ts';
import { sharedDe } from './shared-de.ts';
import { sharedEn, type SharedCatalogue } from './shared-en.ts';
import { sharedFr } from './shared-fr.ts';

export type { SharedCatalogue, SharedKey } from './shared-en.ts';

/**
 * The messages every function may show (error pages, layout, sign-out, form post), per language. The HTTP
 * frame and the OIDC/SAML pages render with these, so only the portal bundles the full catalogues (index.ts).
 */
export const SHARED_CATALOGUES: Readonly<Record<Locale, SharedCatalogue>> = { en: sharedEn, de: sharedDe, fr: sharedFr };
