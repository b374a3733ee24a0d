import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

let loading: Promise<typeof X509> | undefined;

/**
 * @peculiar/x509 (with the Reflect polyfill its tsyringe container needs), loaded on first use. Issuing a
 * certificate is rare next to a cold start, and evaluating the library and its ASN.1 schemas takes ~40 ms:
 * bundled without code splitting, esbuild keeps it in the one file and only defers its evaluation.
 */
export const loadX509 = (): Promise<typeof X509> =>
  (loading ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })());
