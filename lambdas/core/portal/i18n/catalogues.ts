import { de } from './de.ts';
import { en, type Catalogue } from './en.ts';
import { fr } from './fr.ts';
import type { Locale } from './locales.ts';

/** Every message in every language: what the portal's pages need (the other functions carry the frame's part only). */
export const CATALOGUES: Readonly<Record<Locale, Catalogue>> = { en, de, fr };
