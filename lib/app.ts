import { App, Validations, type AppProps } from 'aws-cdk-lib';
import nag from 'cdk-nag';
import { readConfig, type CloudcardConfig } from './config.ts';
import { CloudcardStack } from './stack.ts';

export interface CloudcardApp {
  readonly app: App;
  readonly stack: CloudcardStack;
  readonly config: CloudcardConfig;
}

/**
 * The app bin/app.ts runs, also built by test/infra: reads and validates the context, creates the one
 * stack `Cloudcard-{stage}` (environment-agnostic, no lookups) and checks it with cdk-nag's AwsSolutions
 * pack, which fails synth on any finding not acknowledged with a reason.
 */
export function createCloudcardApp(props: AppProps = {}): CloudcardApp {
  const app = new App(props);
  const config = readConfig((key) => app.node.tryGetContext(key));
  const stack = new CloudcardStack(app, `Cloudcard-${config.stage}`, { config });
  // cdk-nag v3 runs as a CDK validation plugin (v2's Aspects/NagSuppressions API is gone); the
  // acknowledgements are also written to the template metadata as an audit trail.
  Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
  return { app, stack, config };
}
