import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SCHEMA_DIR } from './saml-sp.ts';

/**
 * Helpers shared by the suites that cross-check our SAML schema checks against xmllint and the OASIS
 * XSDs in ../shared/schemas/saml: targeted mutations, one batched xmllint run, a seeded PRNG.
 */

export interface CorpusSample {
  readonly name: string;
  readonly xml: string;
}

/** Replaces the one occurrence of `from` (a test that targets text twice or not at all is a broken test). */
export function mutateOnce(xml: string, from: string | RegExp, to: string): string {
  const count = typeof from === 'string' ? xml.split(from).length - 1 : (xml.match(new RegExp(from.source, `${from.flags.replace('g', '')}g`)) ?? []).length;
  if (count !== 1) throw new Error(`mutation target ${String(from)} occurs ${count} times`);
  return xml.replace(from, to);
}

/** One xmllint run over every sample, from the schema directory (the XSDs import each other by relative name). */
export function xmllintVerdicts(samples: readonly CorpusSample[], schema: string): Map<string, { ok: boolean; output: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cc-schema-corpus-'));
  const files = samples.map((sample, index) => {
    const file = path.join(dir, `${String(index).padStart(3, '0')}.xml`);
    writeFileSync(file, sample.xml);
    return file;
  });
  const run = spawnSync('xmllint', ['--noout', '--nonet', '--schema', schema, ...files], { cwd: SCHEMA_DIR, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const output = `${run.stdout}${run.stderr}`.split('\n');
  return new Map(
    samples.map((sample, index) => {
      const lines = output.filter((line) => line.startsWith(files[index]!));
      return [sample.name, { ok: lines.includes(`${files[index]} validates`), output: lines.join('\n') }];
    }),
  );
}

/** mulberry32: a seeded PRNG, so random mutations are the same on every run. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}
