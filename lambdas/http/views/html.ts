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

const STYLE = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.5rem}label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font:inherit;cursor:pointer}
.error{color:#a00000;border-left:4px solid #a00000;padding-left:.75rem}ul{padding-left:1.25rem}
:focus{outline:3px solid #1a5fb4;outline-offset:2px}`;

/** Every portal page: one h1, a main landmark, an error region screen readers announce. */
export function page(title: string, body: Html, options: { error?: string; lang?: string } = {}): string {
  return `<!doctype html>${html`<html lang="${options.lang ?? 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><style>${new Html(STYLE)}</style></head><body><main><h1>${title}</h1>${
    options.error ? html`<p class="error" role="alert" id="error">${options.error}</p>` : ''
  }${body}</main></body></html>`.value}`;
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

/** Security headers for portal pages: inline styles only, forms may post only to ourselves or a client. */
export function pageHeaders(formAction = "'self'"): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
  };
}
