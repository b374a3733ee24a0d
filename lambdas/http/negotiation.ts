/**
 * Whether an error should be answered as an HTML page rather than problem JSON: only when the client
 * asks for `text/html` explicitly and ranks it at least as high as JSON. Browsers navigating send
 * `text/html,…,*\/*;q=0.8`; `fetch`, curl and SDKs send `*\/*` or `application/json` and keep getting RFC
 * 7807 problems, so no API client ever sees a page. Wildcards never choose HTML.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const range of accept.split(',')) {
    const [type, ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    const q = qualityOf(parameters);
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q);
    else if (type === 'application/json' || type === 'application/problem+json') json = Math.max(json, q);
  }
  return html > 0 && html >= json;
}

function qualityOf(parameters: string[]): number {
  const q = parameters.find((parameter) => parameter.startsWith('q='));
  if (!q) return 1;
  const value = Number(q.slice(2));
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : 0;
}
