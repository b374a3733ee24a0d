/**
 * Builds the client agent as one JavaScript file for Node >= 20 (`agent/dist/cloudcard-agent.js`), the
 * `bin` of the `cloudcard-agent` package (`agent/package.json`): no TypeScript at run time, no dev payload.
 * koffi stays outside the bundle (native binaries in its npm packages) and is optional: without it the
 * agent runs without re-arming TCP_QUICKACK. `node agent/build.ts [outdir]`.
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export async function buildAgent(outdir = `${here}dist`): Promise<string> {
  const outfile = `${outdir}/cloudcard-agent.js`;
  const { version } = JSON.parse(readFileSync(`${here}package.json`, 'utf8')) as { version: string };
  await build({
    entryPoints: [`${here}bin/entry.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['koffi'],
    define: { __AGENT_VERSION__: JSON.stringify(version) },
    // Bundled CommonJS dependencies (commander) call require() for Node built-ins.
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __ccRequire } from 'node:module';\nconst require = __ccRequire(import.meta.url);" },
    legalComments: 'linked',
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = await buildAgent(process.argv[2]);
  process.stdout.write(`built ${outfile}\n`);
}
