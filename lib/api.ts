import { Aws, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CONTEXT_NAMES, CONTEXTS, type ContextName } from '../lambdas/contexts.ts';
import { BINARY_MEDIA_TYPES } from '../lambdas/http-binary-types.ts';
import type { Stage } from './config.ts';
import { acknowledge } from './nag.ts';
import { CloudcardWaf } from './waf.ts';

export interface CloudcardApiProps {
  readonly stage: Stage;
  readonly production: boolean;
  /** The function serving each bounded context; routes come from lambdas/contexts.ts. */
  readonly functions: Readonly<Record<ContextName, lambda.IFunction>>;
  readonly throttleRate: number;
  readonly throttleBurst: number;
  readonly wafRateLimit: number;
  /** When set, the admin API answers only these CIDR blocks (a WAF rule). */
  readonly adminAllowedCidrs?: readonly string[];
  readonly logRetentionDays: number;
  /** Regional custom domain; both or neither. */
  readonly domainName?: string;
  readonly certificateArn?: string;
  /** The certificate-login domain: mutual TLS against the truststore object, mapped to the same stage. */
  readonly certDomain?: CertDomainProps;
}

export interface CertDomainProps {
  readonly domainName: string;
  readonly certificateArn: string;
  readonly truststore: { readonly bucket: s3.IBucket; readonly key: string; readonly version: string };
}

const PUBLIC_BY_DESIGN =
  'The API is public by design: OIDC and SAML endpoints must be reachable by any browser, RP and SP, and the card and admin APIs authenticate every request inside the handler (IdP-issued JWTs, DPoP, signed card-session challenges), which a gateway authorizer could not express.';

/**
 * The regional REST API: one Lambda proxy route per context prefix, access and execution logs, stage
 * throttling, X-Ray, a WAF web ACL, and optionally a custom domain.
 */
export class CloudcardApi extends Construct {
  readonly restApi: apigw.RestApi;
  readonly stage: apigw.Stage;
  readonly accessLogs: logs.LogGroup;
  readonly waf: CloudcardWaf;
  readonly domain?: apigw.DomainName;
  /** Public base URL without a trailing slash (`{base}/t/{tenant}` is a tenant's issuer). */
  readonly url: string;
  /** The mutual-TLS domain for certificate login, when configured. */
  readonly certDomain?: apigw.DomainName;
  /** Its base URL (`https://{certDomainName}`), without a trailing slash. */
  readonly certUrl?: string;

  constructor(scope: Construct, id: string, props: CloudcardApiProps) {
    super(scope, id);
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      logGroupName: `/aws/apigateway/cloudcard-${props.stage}/access`,
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.restApi = new apigw.RestApi(this, 'Api', {
      restApiName: `cloudcard-${props.stage}`,
      description: `cloudcard identity platform (${props.stage})`,
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Bodies of these types reach the functions base64-encoded, everything else as UTF-8 text; the local
      // gateway reads the same list (lambdas/http-binary-types.ts), so both behave alike.
      binaryMediaTypes: [...BINARY_MEDIA_TYPES],
      // Execution logs (errors only) need the account-level CloudWatch role; it outlives the stack.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: props.stage,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // request bodies carry passwords, codes and SAML assertions
        throttlingRateLimit: props.throttleRate,
        throttlingBurstLimit: props.throttleBurst,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: accessLogFormat(),
      },
    });
    this.stage = this.restApi.deploymentStage;
    this.addRoutes(props.functions);
    this.addProblemResponses();

    this.waf = new CloudcardWaf(this, 'Waf', {
      name: `cloudcard-${props.stage}`,
      rateLimit: props.wafRateLimit,
      stage: this.stage,
      adminAllowedCidrs: props.adminAllowedCidrs,
    });

    if (props.domainName && props.certificateArn) {
      this.domain = this.restApi.addDomainName('Domain', {
        domainName: props.domainName,
        certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn),
        endpointType: apigw.EndpointType.REGIONAL,
        securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      });
      this.url = `https://${props.domainName}`;
    } else {
      this.url = Fn.join('', ['https://', this.restApi.restApiId, '.execute-api.', Aws.REGION, '.', Aws.URL_SUFFIX, '/', this.stage.stageName]);
    }

    if (props.certDomain) {
      // A second name for the same API and stage: TLS 1.2 (mutual TLS requires it), the client must
      // present a certificate chaining to the truststore, and API Gateway hands it to the function in
      // requestContext.identity.clientCert. Which tenant it belongs to, revocation and the card's state
      // are the function's checks, not the gateway's.
      this.certDomain = new apigw.DomainName(this, 'CertDomain', {
        domainName: props.certDomain.domainName,
        certificate: acm.Certificate.fromCertificateArn(this, 'CertDomainCertificate', props.certDomain.certificateArn),
        endpointType: apigw.EndpointType.REGIONAL,
        securityPolicy: apigw.SecurityPolicy.TLS_1_2,
        mtls: { bucket: props.certDomain.truststore.bucket, key: props.certDomain.truststore.key, version: props.certDomain.truststore.version },
      });
      this.certDomain.addBasePathMapping(this.restApi, { stage: this.stage });
      this.certUrl = `https://${props.certDomain.domainName}`;
    }

    acknowledge(this.restApi.node.defaultChild!, {
      'AwsSolutions-APIG2':
        "Every route is a Lambda proxy whose bodies are protocol-specific (form-encoded OAuth, SAML XML, problem+JSON card and admin APIs); the handlers validate them with zod and answer with the protocol's own error, which a gateway model would pre-empt with a generic 400.",
    });
    acknowledge(this.restApi.node.findChild('CloudWatchRole'), {
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]':
        'The account-level API Gateway CloudWatch role (required for execution logs) uses the AWS policy made for it; it only writes API Gateway logs.',
    });
  }

  // /t/{tenant} is shared by several contexts: resourceForPath builds each tree node once and reuses it.
  private addRoutes(functions: Readonly<Record<ContextName, lambda.IFunction>>): void {
    const methods: apigw.Method[] = [];
    for (const context of CONTEXT_NAMES) {
      // One permission per method is enough; the console's test-invoke permissions are not wanted.
      const integration = new apigw.LambdaIntegration(functions[context], { allowTestInvoke: false });
      for (const prefix of CONTEXTS[context].prefixes) {
        const resource = this.restApi.root.resourceForPath(prefix);
        methods.push(resource.addMethod('ANY', integration));
        methods.push(resource.addResource('{proxy+}').addMethod('ANY', integration));
      }
      // ANY, not GET: a wrong method must reach the router, which answers 405 problem JSON with Allow,
      // instead of API Gateway's own "Missing Authentication Token".
      for (const path of CONTEXTS[context].exact) {
        methods.push(this.restApi.root.resourceForPath(path).addMethod('ANY', integration));
      }
    }
    // Everything else reaches the admin function, whose router answers 404 (or 405) problem JSON, so an
    // unknown path gets the same answer as on the local gateway instead of API Gateway's own 403.
    // API Gateway does not fall back from /t/{tenant}/x to /{proxy+}, hence one catch-all per level.
    const fallback = new apigw.LambdaIntegration(functions.admin, { allowTestInvoke: false });
    for (const path of ['/', '/t', '/t/{tenant}']) {
      const resource = path === '/' ? this.restApi.root : this.restApi.root.resourceForPath(path);
      methods.push(resource.addMethod('ANY', fallback));
      if (path !== '/t') methods.push(resource.addResource('{proxy+}').addMethod('ANY', fallback));
    }
    for (const method of methods) {
      acknowledge(method, { 'AwsSolutions-APIG4': PUBLIC_BY_DESIGN, 'AwsSolutions-COG4': PUBLIC_BY_DESIGN });
    }
  }

  /**
   * Errors API Gateway answers itself (WAF, throttling, size, timeouts, its own faults) in problem JSON
   * too. The specific types get their own status. DEFAULT_4XX and DEFAULT_5XX set none: they cover every
   * uncustomised 4xx or 5xx (403 from a resource policy, 401, 415, 502 from a malformed function result,
   * ...), and a fixed status there would turn all of those into one code. Their bodies carry no `status`
   * member for the same reason (the status line has it; RFC 7807 makes the member optional).
   */
  private addProblemResponses(): void {
    const headers = { 'Content-Type': "'application/problem+json'", 'Cache-Control': "'no-store'" };
    const template = (title: string, status?: string) =>
      `{"type":"about:blank","title":"${title}",${status ? `"status":${status},` : ''}"detail":$context.error.messageString,"requestId":"$context.requestId"}`;
    const responses: [string, apigw.ResponseType, string | undefined, string][] = [
      ['Throttled', apigw.ResponseType.THROTTLED, '429', 'Too many requests'],
      ['WafFiltered', apigw.ResponseType.WAF_FILTERED, '403', 'Forbidden'],
      ['TooLarge', apigw.ResponseType.REQUEST_TOO_LARGE, '413', 'Payload too large'],
      // No method on the resource: with ANY on every route this is rare, but it is a "not found".
      ['MissingRoute', apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, '404', 'Not found'],
      ['IntegrationTimeout', apigw.ResponseType.INTEGRATION_TIMEOUT, '504', 'Gateway timeout'],
      ['Default4xx', apigw.ResponseType.DEFAULT_4XX, undefined, 'Request refused'],
      ['Default5xx', apigw.ResponseType.DEFAULT_5XX, undefined, 'Gateway error'],
    ];
    for (const [id, type, status, title] of responses) {
      this.restApi.addGatewayResponse(id, {
        type,
        ...(status ? { statusCode: status } : {}),
        responseHeaders: headers,
        templates: { 'application/json': template(title, status) },
      });
    }
  }
}

/** JSON access log lines. No query string or body: they carry authorization codes and SAML messages. */
function accessLogFormat(): apigw.AccessLogFormat {
  const F = apigw.AccessLogField;
  const fields: Record<string, string> = {
    requestId: F.contextRequestId(),
    extendedRequestId: F.contextExtendedRequestId(),
    requestTime: F.contextRequestTime(),
    ip: F.contextIdentitySourceIp(),
    userAgent: F.contextIdentityUserAgent(),
    domainName: F.contextDomainName(),
    httpMethod: F.contextHttpMethod(),
    resourcePath: F.contextResourcePath(),
    path: F.contextPath(),
    protocol: F.contextProtocol(),
    status: F.contextStatus(),
    responseLength: F.contextResponseLength(),
    responseLatency: F.contextResponseLatency(),
    integrationStatus: F.contextIntegrationStatus(),
    integrationLatency: F.contextIntegrationLatency(),
    errorType: F.contextErrorResponseType(),
    wafStatus: F.contextWafStatus(),
    xrayTraceId: F.contextXrayTraceId(),
  };
  return apigw.AccessLogFormat.custom(JSON.stringify(fields));
}
