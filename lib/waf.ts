import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface CloudcardWafProps {
  /** Prefix of the CloudWatch metric names. */
  readonly name: string;
  /** Requests one client IP may make in 5 minutes before it is blocked. */
  readonly rateLimit: number;
  /** The API stage to protect. */
  readonly stage: apigw.Stage;
  /** When set, the tenant admin API (`/t/{tenant}/admin/…`) answers only these IPv4/IPv6 CIDR blocks. */
  readonly adminAllowedCidrs?: readonly string[];
}

/** The admin API's path, with or without the stage prefix of the default endpoint (`/prod/t/acme/admin/v1/…`). */
export const ADMIN_PATH_PATTERN = '^(/[^/]+)?/t/[^/]+/admin(/|$)';

/**
 * A regional web ACL on the API stage: the admin API's address allow-list (when configured), a per-IP
 * rate limit, then AWS's common and known-bad-input rules.
 */
export class CloudcardWaf extends Construct {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: CloudcardWafProps) {
    super(scope, id);
    const visibility = (metric: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: `${props.name}-${metric}`,
    });
    const managed = (name: string, priority: number, countOnly: string[] = []): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ...(countOnly.length > 0 ? { ruleActionOverrides: countOnly.map((rule) => ({ name: rule, actionToUse: { count: {} } })) } : {}),
        },
      },
      visibilityConfig: visibility(name),
    });
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('WebAcl'),
      rules: [
        ...this.adminAllowList(props, visibility),
        {
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: props.rateLimit, aggregateKeyType: 'IP', evaluationWindowSec: 300 } },
          visibilityConfig: visibility('RateLimitPerIp'),
        },
        // SAML HTTP-POST and SOAP bindings carry signed XML well over the rule's 8 KB body limit; the
        // handlers enforce their own body limit (MAX_BODY_BYTES), so that one rule only counts.
        managed('AWSManagedRulesCommonRuleSet', 1, ['SizeRestrictions_BODY']),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 2),
      ],
    });
    // stageArn references the stage, so the association waits for it.
    new wafv2.CfnWebACLAssociation(this, 'Association', { resourceArn: props.stage.stageArn, webAclArn: this.webAcl.attrArn });
  }

  /** Blocks admin-API requests from outside the allowed blocks (one IP set per address family). */
  private adminAllowList(props: CloudcardWafProps, visibility: (metric: string) => wafv2.CfnWebACL.VisibilityConfigProperty): wafv2.CfnWebACL.RuleProperty[] {
    const cidrs = props.adminAllowedCidrs ?? [];
    if (cidrs.length === 0) return [];
    const families = (['IPV4', 'IPV6'] as const)
      .map((version) => ({ version, addresses: cidrs.filter((cidr) => cidr.includes(':') === (version === 'IPV6')) }))
      .filter(({ addresses }) => addresses.length > 0);
    const allowed = families.map(
      ({ version, addresses }) =>
        ({
          ipSetReferenceStatement: {
            arn: new wafv2.CfnIPSet(this, `AdminAllowed${version}`, {
              scope: 'REGIONAL',
              ipAddressVersion: version,
              addresses: [...addresses],
              description: `${props.name}: addresses allowed on the admin API`,
            }).attrArn,
          },
        }) satisfies wafv2.CfnWebACL.StatementProperty,
    );
    const fromAllowed: wafv2.CfnWebACL.StatementProperty = allowed.length === 1 ? allowed[0]! : { orStatement: { statements: allowed } };
    return [
      {
        name: 'AdminAllowList',
        priority: 3,
        action: { block: {} },
        statement: {
          andStatement: {
            statements: [
              { regexMatchStatement: { regexString: ADMIN_PATH_PATTERN, fieldToMatch: { uriPath: {} }, textTransformations: [{ priority: 0, type: 'NONE' }] } },
              { notStatement: { statement: fromAllowed } },
            ],
          },
        },
        visibilityConfig: visibility('AdminAllowList'),
      },
    ];
  }
}
