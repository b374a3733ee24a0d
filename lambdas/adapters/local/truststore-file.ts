import { renameSync, writeFileSync } from 'node:fs';
import type { TruststoreWriter } from '../../ports.ts';

/**
 * The local stack's truststore: a PEM file in the data directory (`truststore.pem`), replaced whole by a
 * rename so a reader (the local mutual-TLS listener) never sees half a bundle. Certificates are public:
 * the file is readable like any CA bundle.
 */
export class FileTruststore implements TruststoreWriter {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  async write(pem: string): Promise<void> {
    const temporary = `${this.#path}.${process.pid}.tmp`;
    writeFileSync(temporary, pem, { mode: 0o644 });
    renameSync(temporary, this.#path);
  }
}
