import { createHash } from 'node:crypto';
import type { Branding } from '../../core/portal/branding.ts';
import type { PageView } from './view.ts';
/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A tagged template that escapes every interpolation unless it is already `Html`. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    const rendered = Array.isArray(value)
      ? value.map((v) => (v instanceof Html ? v.value : escapeHtml(v))).join('')
      : value instanceof Html
        ? value.value
        : escapeHtml(value);
    out += rendered + strings[i + 1]!;
  });
  return new Html(out);
}

/** The built-in look; brand colours arrive as the custom properties, custom CSS after it (core/portal/branding.ts). */
const STYLE = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:var(--cc-text);background:var(--cc-background);line-height:1.5;overflow-wrap:anywhere}
h1{font-size:1.5rem}label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font:inherit;cursor:pointer;color:var(--cc-primary-text);background:var(--cc-primary);border:1px solid var(--cc-primary);border-radius:4px}
a{color:var(--cc-primary)}
.error{color:#a00000;border-left:4px solid #a00000;padding-left:.75rem}ul{padding-left:1.25rem}
.brand{display:flex;align-items:center;gap:.75rem;font-weight:600;font-size:1.1rem}.brand img{max-height:3rem;max-width:10rem}
.app{display:flex;align-items:center;gap:.5rem;color:var(--cc-text)}.app img{max-height:2rem;max-width:6rem}
footer{margin-top:2rem;font-size:.9rem}
:focus{outline:3px solid #1a5fb4;outline-offset:2px}`;

const DEFAULT_COLORS = { primary: '#1a5fb4', primaryText: '#ffffff', background: '#ffffff', text: '#1b1b1b' };

/** The one stylesheet of a page with this branding (the CSP names its hash, so nothing else may style the page). */
export function stylesheetOf(branding: Branding): string {
  const colors = { ...DEFAULT_COLORS, ...branding.colors };
  const root = `:root{--cc-primary:${colors.primary};--cc-primary-text:${colors.primaryText};--cc-background:${colors.background};--cc-text:${colors.text}}`;
  return `${root}\n${STYLE}${branding.css ? `\n${branding.css}` : ''}`;
}

const styleHashes = new Map<string, string>();
/** `'sha256-…'` of the stylesheet, memoised per stylesheet (a handful of tenants per container). */
function styleSource(branding: Branding): string {
  const css = stylesheetOf(branding);
  let hash = styleHashes.get(css);
  if (!hash) {
    hash = `'sha256-${createHash('sha256').update(css).digest('base64')}'`;
    if (styleHashes.size > 256) styleHashes.clear();
    styleHashes.set(css, hash);
  }
  return hash;
}

/**
 * Every portal page: the tenant's brand (logo, product name), one h1 in a main landmark, an error region
 * screen readers announce, the support link; `<html lang>` is the page's language.
 */
export function page(view: PageView, title: string, body: Html, options: { error?: string } = {}): string {
  const { branding, app } = view;
  const brand =
    branding.logo || branding.productName
      ? html`<header class="brand">${branding.logo ? html`<img src="${branding.logo}" alt="${branding.productName ? '' : view.org}">` : ''}${branding.productName ? html`<span>${branding.productName}</span>` : ''}</header>`
      : '';
  const appLine = app
    ? html`<p class="app">${app.logoUri ? html`<img src="${app.logoUri}" alt="">` : ''}<span>${view.t('page.poweredBy', { app: app.name })}</span></p>`
    : '';
  const footer = branding.supportUrl ? html`<footer><a href="${branding.supportUrl}" rel="noopener noreferrer">${view.t('page.support')}</a></footer>` : '';
  return `<!doctype html>${
    html`<html lang="${view.locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><style>${new Html(stylesheetOf(branding))}</style></head><body>${brand}<main><h1>${title}</h1>${appLine}${
      options.error ? html`<p class="error" role="alert" id="error">${options.error}</p>` : ''
    }${body}</main>${footer}</body></html>`.value
  }`;
}

/**
 * The `form-action` sources of a page whose form submission ends in a redirect to `targets`: browsers
 * (Chromium) enforce form-action on every redirect that follows a form POST, so the relying party's
 * origin must be listed or the final hop back to it is blocked.
 */
export function formActionFor(...targets: (string | undefined)[]): string {
  const sources = new Set(["'self'"]);
  for (const target of targets) {
    if (!target) continue;
    try {
      const url = new URL(target);
      sources.add(url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol);
    } catch {
      // not a URL: nothing to allow
    }
  }
  return [...sources].join(' ');
}

/**
 * Security headers for portal pages: the page's own stylesheet only (by hash), images only inline (the
 * tenant's logo) or from the registered logo's origin, no script, forms posting only to ourselves or a client.
 */
export function pageHeaders(view: PageView, formAction = "'self'"): Record<string, string> {
  const images = new Set<string>();
  if (view.branding.logo) images.add('data:');
  if (view.app?.logoUri) images.add(new URL(view.app.logoUri).origin);
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': `default-src 'none'; style-src ${styleSource(view.branding)}; ${images.size ? `img-src ${[...images].join(' ')}; ` : ''}form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'Content-Language': view.locale,
  };
}
