#!/usr/bin/env node
// The client agent. Its sources are TypeScript run by Node 22's type stripping; on an older Node this
// shim re-runs itself with the project's Node 22 (the node@22 dev dependency).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
if (process.features.typescript) {
  const { main } = await import(join(root, 'agent', 'cli.ts'));
  await main(process.argv);
} else {
  const node22 = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(node22)) {
    process.stderr.write('cloudcard-agent needs Node.js >= 22.18; run `npm ci` to install the project-local Node 22\n');
    process.exit(1);
  }
  const result = spawnSync(node22, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
