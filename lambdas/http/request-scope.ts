import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The public base URL of the request being served, for work done on its behalf deep in the core that
 * must name our own URLs (the issuer in a back-channel logout token a risk denial sends): the core gets a
 * function returning it (a port), never this module. One value per request, set by the HTTP frame.
 */
const scope = new AsyncLocalStorage<{ readonly baseUrl: string }>();

export const withRequestBase = <T>(baseUrl: string, work: () => Promise<T>): Promise<T> => scope.run({ baseUrl }, work);

/** `{base}` of the request being served here, if any. */
export const requestBaseUrl = (): string | undefined => scope.getStore()?.baseUrl;
