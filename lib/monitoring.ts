import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ContextName } from '../lambdas/contexts.ts';
import type { Stage } from './config.ts';
import { METRICS_NAMESPACE, serviceName } from './functions.ts';

export interface CloudcardMonitoringProps {
  readonly stage: Stage;
  readonly production: boolean;
  readonly functions: Readonly<Record<ContextName, lambda.IFunction>>;
  readonly apiStage: apigw.Stage;
  /** The keys whose policy changes (and other key-state changes) raise an alarm. */
  readonly keys: readonly kms.IKey[];
  /** When set, alarms notify this address through an encrypted SNS topic. */
  readonly alarmEmail?: string;
}

const PERIOD = Duration.minutes(5);

/**
 * KMS calls on our keys that change who may use them or whether they work. kms:PutKeyPolicy stays with
 * the account's administrators (lib/keys.ts), so every such call is reported instead of prevented.
 */
export const WATCHED_KEY_EVENTS = ['PutKeyPolicy', 'CreateGrant', 'ScheduleKeyDeletion', 'DisableKey'] as const;

/** The dashboard operators watch and the alarms that page them. */
export class CloudcardMonitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly topic?: sns.Topic;
  /** EventBridge rule matching key-policy and key-state changes on the stack's keys (from CloudTrail). */
  readonly keyChanges: events.Rule;

  constructor(scope: Construct, id: string, props: CloudcardMonitoringProps) {
    super(scope, id);
    const prefix = `cloudcard-${props.stage}`;
    const functions = Object.entries(props.functions) as [ContextName, lambda.IFunction][];
    const api = props.apiStage;

    // Unhandled errors and timeouts only: handlers answer bad input with the protocol's error, so any
    // Errors datapoint is a bug or an outage worth a look.
    for (const [name, fn] of functions) {
      this.alarms.push(
        fn.metricErrors({ period: PERIOD }).createAlarm(this, `${name}Errors`, {
          alarmName: `${prefix}-${name}-errors`,
          alarmDescription: `The ${name} function failed (unhandled error or timeout).`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    // SOAP Faults are HTTP 500 by the SAML SOAP binding (SOAP 1.1 §6.2) yet answer the caller's mistake
    // (wrong media type, malformed envelope): the SAML function counts them as `SoapFault` and the alarm
    // watches the 5xx answers that remain.
    const soapFaults = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'SoapFault',
      dimensionsMap: { service: serviceName('saml') },
      statistic: 'Sum',
      period: PERIOD,
    });
    const serverErrors = new cloudwatch.MathExpression({
      expression: 'FILL(errors, 0) - FILL(soapFaults, 0)',
      usingMetrics: { errors: api.metricServerError({ period: PERIOD, statistic: 'Sum' }), soapFaults },
      label: '5xx other than SOAP Faults',
      period: PERIOD,
    });
    this.alarms.push(
      serverErrors.createAlarm(this, 'Api5xx', {
        alarmName: `${prefix}-api-5xx`,
        alarmDescription:
          'The API answered 5xx (function failures, throttled integrations, timeouts), not counting SOAP Faults, which answer bad SOAP requests.',
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // Security events (lambdas/core/security-events.ts): one metric per kind, per function. A spike of
    // denials (risk, disabled subjects, revoked access) across the functions that run the access check is
    // an attack or a broken policy: either way, someone looks.
    const securityEvent = (kind: string, name: ContextName) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: `SecurityEvent.${kind}`,
        dimensionsMap: { service: serviceName(name) },
        statistic: 'Sum',
        period: PERIOD,
      });
    const allFunctions = (kind: string) => {
      const usingMetrics = Object.fromEntries(functions.map(([name], index) => [`${kind.replace(/-/g, '')}${index}`, securityEvent(kind, name)]));
      return new cloudwatch.MathExpression({
        expression: Object.keys(usingMetrics)
          .map((id) => `FILL(${id}, 0)`)
          .join(' + '),
        usingMetrics,
        label: kind,
        period: PERIOD,
      });
    };
    const denials = allFunctions('deny');
    const spikes = [
      { kind: 'deny', id: 'DenySpike', name: 'deny-spike', threshold: 20, what: 'access denials (security event `deny`)' },
      {
        kind: 'sign-in-failure',
        id: 'LoginFailureSpike',
        name: 'login-failure-spike',
        threshold: 50,
        what: 'failed password sign-ins (security event `sign-in-failure`)',
      },
      { kind: 'lockout', id: 'LockoutSpike', name: 'lockout-spike', threshold: 10, what: 'sign-ins refused by the login throttle (security event `lockout`)' },
    ] as const;
    for (const spike of spikes) {
      this.alarms.push(
        (spike.kind === 'deny' ? denials : allFunctions(spike.kind)).createAlarm(this, spike.id, {
          alarmName: `${prefix}-${spike.name}`,
          alarmDescription: `Many ${spike.what} in 5 minutes, all functions together: look at the security-event log lines for who, where from and why.`,
          threshold: spike.threshold,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // CloudTrail delivers KMS management calls to EventBridge (it needs a trail logging management events
    // in the region); the rule matches those on our keys and the alarm fires on any match. A deployment
    // that changes a grant triggers it too: each alert is a change to review, expected or not.
    this.keyChanges = new events.Rule(this, 'KeyChanges', {
      ruleName: `${prefix}-key-changes`,
      description: `${prefix}: ${WATCHED_KEY_EVENTS.join(', ')} on the card KEK or the signing key`,
      eventPattern: {
        source: ['aws.kms'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: [...WATCHED_KEY_EVENTS],
          resources: { ARN: props.keys.map((key) => key.keyArn) },
        },
      },
    });
    this.alarms.push(
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'TriggeredRules',
        dimensionsMap: { RuleName: this.keyChanges.ruleName },
        statistic: 'Sum',
        period: PERIOD,
      }).createAlarm(this, 'KeyPolicyChanged', {
        alarmName: `${prefix}-key-policy-changed`,
        alarmDescription: `A key policy or the state of a cloudcard key changed (${WATCHED_KEY_EVENTS.join(', ')}): check CloudTrail for who did it.`,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    if (props.alarmEmail) {
      this.topic = this.alarmTopic(prefix, props.production);
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
      const action = new actions.SnsAction(this.topic);
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    const perFunction = (title: string, metric: (fn: lambda.IFunction) => cloudwatch.Metric) =>
      new cloudwatch.GraphWidget({
        title,
        width: 8,
        left: functions.map(([name, fn]) => withLabel(metric(fn), name)),
      });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: prefix,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'API requests and errors',
            width: 12,
            left: [withLabel(api.metricCount({ period: PERIOD }), 'requests')],
            right: [
              withLabel(api.metricClientError({ period: PERIOD }), '4xx'),
              withLabel(api.metricServerError({ period: PERIOD }), '5xx'),
              withLabel(soapFaults, 'SOAP Faults (in 5xx)'),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'API latency',
            width: 12,
            left: ['p50', 'p90', 'p99'].map((statistic) => withLabel(api.metricLatency({ period: PERIOD, statistic }), statistic)),
          }),
        ],
        [
          perFunction('Function errors', (fn) => fn.metricErrors({ period: PERIOD })),
          perFunction('Function duration p99', (fn) => fn.metricDuration({ period: PERIOD, statistic: 'p99' })),
          perFunction('Function throttles', (fn) => fn.metricThrottles({ period: PERIOD })),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Security events (all functions)',
            width: 24,
            left: [denials, allFunctions('step-up'), allFunctions('token-revoked')],
            right: [allFunctions('sign-in-failure'), allFunctions('lockout')],
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: this.alarms })],
      ],
    });
  }

  // SNS topics must be encrypted; CloudWatch can only publish to one whose key lets it, which the
  // AWS-managed aws/sns key does not, hence a small customer-managed key.
  private alarmTopic(prefix: string, production: boolean): sns.Topic {
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: `${prefix}: alarm topic encryption`,
      enableKeyRotation: true,
      removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(production ? 30 : 7),
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    return new sns.Topic(this, 'AlarmTopic', {
      topicName: `${prefix}-alarms`,
      displayName: `cloudcard ${prefix} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
  }
}

const withLabel = (metric: cloudwatch.Metric, label: string): cloudwatch.Metric => metric.with({ label });
