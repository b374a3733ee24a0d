// The packaged agent's entry point (bundled by agent/build.ts); bin/cloudcard-agent.js is the in-repo one.
import { main } from '../cli.ts';

await main(process.argv);
