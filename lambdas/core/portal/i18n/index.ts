import { de } from './de.ts';
import { en, type Catalogue, type MessageKey } from './en.ts';
import { fillMessage, formatValue, type MessageValue } from './format.ts';
import { fr } from './fr.ts';

export type { Catalogue, MessageKey } from './en.ts';
export type { SharedKey } from './shared.ts';
export { fillMessage, formatValue, placeholdersOf, type MessageValue } from './format.ts';

import type { Locale } from './locales.ts';

export { DEFAULT_LOCALE, isLocale, LOCALES, type Locale } from './locales.ts';

/** The portal's full catalogues: only the portal function bundles them (the others use shared.ts). */
export const CATALOGUES: Readonly<Record<Locale, Catalogue>> = { en, de, fr };

/** The message `key` in `locale` as parts (format.ts `fillMessage`). */
export const messageParts = <T>(
  locale: Locale,
  key: MessageKey,
  values: Readonly<Record<string, T>>,
  render: (value: T) => string,
  literal: (text: string) => string,
): string => fillMessage(CATALOGUES[locale][key], values, render, literal);

/** Plain-text form of a message (values formatted for the language). */
export const translate = (locale: Locale, key: MessageKey, values: Readonly<Record<string, MessageValue>> = {}): string =>
  messageParts(
    locale,
    key,
    values,
    (value) => formatValue(locale, value),
    (text) => text,
  );
