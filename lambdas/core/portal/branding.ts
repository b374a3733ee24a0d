import * as z from '../zod.ts';
import { LOCALES } from './i18n/locales.ts';

/**
 * Per-tenant branding of the portal: product name, logo, colours, support link, default language and
 * a small custom stylesheet. Everything here ends up in pages every employee sees before signing in, so
 * each field is validated to a form that cannot run script, load anything from elsewhere or break out
 * of its place in the page.
 */

/** The logo is an uploaded image (a data: URI), never a remote URL: the login page then loads nothing from
 * a third party (no tracking of who opens it, no widening of the page's CSP) and the function fetches nothing. */
const LOGO_MAX_BYTES = 32 * 1024;
const LOGO_TYPES: Readonly<Record<string, (bytes: Buffer) => boolean>> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => b.subarray(0, 6).toString('latin1') === 'GIF87a' || b.subarray(0, 6).toString('latin1') === 'GIF89a',
  'image/webp': (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
};

/** Why a logo data: URI is refused, or undefined when it is a small PNG, JPEG, GIF or WebP (no SVG: it can carry script). */
export function logoProblem(value: string): string | undefined {
  const match = /^data:(image\/[a-z]+);base64,([A-Za-z0-9+/]+={0,2})$/.exec(value);
  if (!match) return 'must be a data:image/png|jpeg|gif|webp;base64,… URI';
  const check = LOGO_TYPES[match[1]!];
  if (!check) return `${match[1]} is not accepted (PNG, JPEG, GIF or WebP)`;
  const bytes = Buffer.from(match[2]!, 'base64');
  if (bytes.length > LOGO_MAX_BYTES) return `is ${bytes.length} bytes; at most ${LOGO_MAX_BYTES}`;
  if (!check(bytes)) return `is not a ${match[1]} image`;
  return undefined;
}

/** Properties custom CSS may set: typography, colours, spacing, borders. Nothing that positions, loads or generates content. */
const CSS_PROPERTIES = new Set([
  'color',
  'background-color',
  'border-color',
  'border-width',
  'border-style',
  'border',
  'border-radius',
  'outline-color',
  'font-family',
  'font-size',
  'font-weight',
  'font-style',
  'line-height',
  'letter-spacing',
  'text-align',
  'text-decoration',
  'text-transform',
  'margin',
  'margin-top',
  'margin-bottom',
  'margin-left',
  'margin-right',
  'padding',
  'padding-top',
  'padding-bottom',
  'padding-left',
  'padding-right',
  'max-width',
  'min-height',
  'gap',
  'box-shadow',
]);
/** The only functions a value may call (colours and our own custom properties). */
const CSS_FUNCTIONS = new Set(['rgb', 'rgba', 'hsl', 'hsla', 'var']);
const SELECTOR = /^[a-zA-Z0-9\s.#:_>,+~*[\]=-]+$/;
const VALUE = /^[a-zA-Z0-9\s#.,%()+"'!-]+$/;

/**
 * Checks custom CSS against the allow-list and returns it re-serialised from what was parsed (so what is
 * stored is exactly what was checked): plain rules `selector { property: value; … }` with the properties
 * above; no at-rules (`@import`, `@font-face`…), no `url()` or other functions than colours and `var()`,
 * no escapes, no `<` (it could close the style element). Throws the list of problems, each naming its rule.
 */
export function sanitizeCss(css: string): string {
  const problems: string[] = [];
  if (/[\\<@&]/.test(css)) throw new CssError(['backslash escapes, "<", "&" and at-rules (@import, @media…) are not allowed']);
  const withoutComments = css.replace(/\/\*[\s\S]*?\*\//g, ' ');
  if (withoutComments.includes('/*')) throw new CssError(['a comment is not closed']);
  const rules: string[] = [];
  const chunks = withoutComments.split('}');
  if (chunks.pop()!.trim() !== '') problems.push('text after the last rule (missing "}"?)');
  chunks.forEach((chunk, index) => {
    const where = `rule ${index + 1}`;
    const parts = chunk.split('{');
    if (parts.length !== 2) return void problems.push(`${where}: expected "selector { declarations }"`);
    const selector = parts[0]!.trim().replace(/\s+/g, ' ');
    if (!selector || !SELECTOR.test(selector)) return void problems.push(`${where}: selector "${selector.slice(0, 60)}" has characters that are not allowed`);
    const declarations: string[] = [];
    for (const declaration of parts[1]!
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)) {
      const colon = declaration.indexOf(':');
      const property = (colon < 0 ? declaration : declaration.slice(0, colon)).trim().toLowerCase();
      const value =
        colon < 0
          ? ''
          : declaration
              .slice(colon + 1)
              .trim()
              .replace(/\s+/g, ' ');
      const problem = declarationProblem(property, value);
      if (problem) problems.push(`${where}: ${problem}`);
      else declarations.push(`${property}:${value}`);
    }
    rules.push(`${selector}{${declarations.join(';')}}`);
  });
  if (problems.length) throw new CssError(problems);
  return rules.join('\n');
}

function declarationProblem(property: string, value: string): string | undefined {
  if (!CSS_PROPERTIES.has(property) && !/^--cc-[a-z-]+$/.test(property)) return `property "${property.slice(0, 40)}" is not allowed`;
  if (!value) return `"${property}" has no value`;
  if (!VALUE.test(value)) return `the value of "${property}" has characters that are not allowed`;
  if (/["']/.test(value) && property !== 'font-family') return `quotes are only allowed in font-family`;
  for (const call of value.matchAll(/([a-zA-Z-]*)\s*\(/g)) {
    if (!CSS_FUNCTIONS.has(call[1]!.toLowerCase())) return `function "${call[1] || '('}" is not allowed in "${property}" (only rgb, rgba, hsl, hsla, var)`;
  }
  if (/expression|javascript|behaviou?r/i.test(value)) return `the value of "${property}" is not allowed`;
  return undefined;
}

export class CssError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.problems = problems;
  }
}

const colour = z.optional(z.string().check(z.regex(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'must be a hex colour, #rgb or #rrggbb')));

export const brandingSchema = z.strictObject({
  productName: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(80))),
  logo: z.optional(
    z.string().check(
      z.maxLength(64 * 1024),
      z.superRefine((value, ctx) => {
        const problem = logoProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    ),
  ),
  colors: z.optional(z.strictObject({ primary: colour, primaryText: colour, background: colour, text: colour })),
  supportUrl: z.optional(
    z.string().check(
      z.maxLength(2048),
      z.refine((value) => /^(https:\/\/|mailto:)/.test(value) && URL.canParse(value), 'must be an https: or mailto: URL'),
    ),
  ),
  defaultLocale: z.optional(z.enum(LOCALES)),
  css: z.optional(
    z.pipe(
      z.string().check(z.maxLength(8192)),
      z.transform((value: string, ctx) => {
        try {
          return sanitizeCss(value);
        } catch (error) {
          if (!(error instanceof CssError)) throw error;
          for (const problem of error.problems) ctx.issues.push({ code: 'custom', message: problem, input: value });
          return z.NEVER;
        }
      }),
    ),
  ),
});

export type Branding = z.infer<typeof brandingSchema>;
export const NO_BRANDING: Branding = {};
