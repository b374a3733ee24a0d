import { ContextError } from '../lib/config.ts';
import { createCloudcardApp } from '../lib/app.ts';

// The CLI synthesizes the app on exit (CDK_OUTDIR is set); a bad context value ends it with one line.
try {
  createCloudcardApp();
} catch (error) {
  if (!(error instanceof ContextError)) throw error;
  console.error(error.message);
  process.exit(1);
}
