import type { Locale } from './locales.ts';

/** A value a message may name: text as is, numbers and dates formatted for the language with `Intl`. */
export type MessageValue = string | number | Date;

/** The `{name}` placeholders of a message, in order (the catalogue test compares them across languages). */
export const placeholdersOf = (message: string): string[] => [...message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

/** Formats one value for `locale`: `Intl.NumberFormat` for numbers, `Intl.DateTimeFormat` (UTC, named) for dates. */
export function formatValue(locale: Locale, value: MessageValue): string {
  if (typeof value === 'number') return new Intl.NumberFormat(locale).format(value);
  if (value instanceof Date) return new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'long', timeZone: 'UTC' }).format(value);
  return value;
}

/**
 * `message` (already looked up in a catalogue) as a sequence of parts: literal text and the named values
 * (each passed through `render`, so a caller can escape text and keep markup it built itself). A missing
 * placeholder value leaves the placeholder visible rather than failing a page.
 */
export function fillMessage<T>(message: string, values: Readonly<Record<string, T>>, render: (value: T) => string, literal: (text: string) => string): string {
  let out = '';
  let last = 0;
  for (const match of message.matchAll(/\{(\w+)\}/g)) {
    out += literal(message.slice(last, match.index));
    const name = match[1]!;
    out += name in values ? render(values[name]!) : literal(match[0]);
    last = match.index! + match[0].length;
  }
  return out + literal(message.slice(last));
}
