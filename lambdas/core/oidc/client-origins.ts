/**
 * The web origins a client's browser code runs on: the origins of its registered http(s) redirect URIs,
 * exactly (scheme, host and port). A private-use scheme (native apps) has no web origin, and a loopback
 * redirect registered without a port names no browser origin either: the any-port rule of RFC 8252 §7.3 is
 * for native apps' listeners, not for pages.
 */
export function clientOrigins(redirectUris: readonly string[]): string[] {
  const origins = new Set<string>();
  for (const uri of redirectUris) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      continue;
    }
    if (url.protocol === 'https:' || url.protocol === 'http:') origins.add(url.origin);
  }
  return [...origins];
}
