/**
 * A minimal browser over fetch: a cookie jar per host path, manual redirects, and form submission from
 * the returned HTML. Enough to drive the portal "over HTTP" the way a user agent would.
 */
export class HttpBrowser {
  readonly #cookies = new Map<string, { value: string; path: string }>();
  readonly #fetch: typeof fetch;

  /** `fetchImpl`: e.g. test/support/source-fetch.ts, to browse from another source address or user agent. */
  constructor(fetchImpl: typeof fetch = fetch) {
    this.#fetch = fetchImpl;
  }

  cookie(name: string): string | undefined {
    return this.#cookies.get(name)?.value;
  }

  /** `origin`: the Origin a form post names (a page of this origin by default; another site's page to test CSRF). */
  async request(url: string, init: { method?: string; form?: Record<string, string>; origin?: string } = {}): Promise<Response> {
    const target = new URL(url);
    const cookie = [...this.#cookies.entries()]
      .filter(([, c]) => target.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
    const response = await this.#fetch(url, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      redirect: 'manual',
      headers: {
        ...(cookie ? { Cookie: cookie } : {}),
        ...(init.form ? { 'Content-Type': 'application/x-www-form-urlencoded', Origin: init.origin ?? target.origin } : {}),
      },
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path =
        attributes
          .map((a) => a.trim())
          .find((a) => a.toLowerCase().startsWith('path='))
          ?.slice(5) ?? '/';
      const expired = attributes.some((a) => /max-age=0/i.test(a.trim()));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, { value, path });
    }
    return response;
  }

  /** Follows redirects until a page (non-3xx) or a URL outside `stopAt` (the client's redirect URI). */
  async follow(url: string, stopAt: string, init: { form?: Record<string, string> } = {}): Promise<{ response: Response; url: string }> {
    let current = url;
    let response = await this.request(current, init);
    for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops++) {
      current = new URL(response.headers.get('location')!, current).toString();
      if (current.startsWith(stopAt)) return { response, url: current };
      response = await this.request(current);
    }
    return { response, url: current };
  }
}

/** The hidden inputs and the action of the first form in a page. */
export function formOf(htmlText: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]+)"/.exec(htmlText)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const match of htmlText.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[decode(match[1]!)] = decode(match[2]!);
  return { action: decode(action), fields };
}

function decode(value: string): string {
  return value.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}
