/**
 * A small IAM identity-policy evaluator for the infra tests: exactly the parts of the policy language
 * the stack's role policies use, so a synthesized policy can be run against real requests. It follows
 * AWS's rules for one principal's identity policies: an explicit Deny wins, otherwise an Allow that
 * matches action, resource and every condition, otherwise the request is refused (implicit deny).
 *
 * A condition operator it does not know makes it throw, never pass: a test must not be green because
 * a condition was skipped. (The best-known npm simulator, @cloud-copilot/iam-simulate, is AGPL-3.0.)
 */

export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny' | string;
  readonly actions: readonly string[];
  /** Resolved ARNs or ARN patterns (`*` and `?` wildcards). */
  readonly resources: readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  /** Condition keys of the request; a key absent here is absent from the request. */
  readonly context: Readonly<Record<string, readonly string[]>>;
}

export type Decision = 'allowed' | 'explicitly denied' | 'implicitly denied';

/** IAM's string globbing: `*` any run of characters, `?` exactly one; everything else literal. */
export function globMatches(pattern: string, value: string, options: { caseInsensitive?: boolean } = {}): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, options.caseInsensitive ? 'is' : 's').test(value);
}

const list = (value: string | readonly string[]): readonly string[] => (typeof value === 'string' ? [value] : value);

type Matcher = (pattern: string, value: string) => boolean;
const MATCHERS: Readonly<Record<string, Matcher>> = {
  StringEquals: (p, v) => p === v,
  StringLike: (p, v) => globMatches(p, v),
};

/**
 * One condition operator over one key. Single-valued operators need the key present and one of its
 * values matching; `ForAllValues:` holds when every request value matches some pattern (vacuously, when
 * the key is absent: why the stack grants no action that can omit it); `ForAnyValue:` when one does.
 */
export function conditionHolds(operator: string, key: string, patterns: readonly string[], context: IamRequest['context']): boolean {
  const [qualifier, base] = operator.includes(':') ? (operator.split(':', 2) as [string, string]) : [undefined, operator];
  // Null: "true" holds when the key is absent, "false" when it is present.
  if (base === 'Null' && qualifier === undefined) return patterns.every((pattern) => (pattern === 'true') === (context[key] === undefined));
  const matches = MATCHERS[base];
  if (!matches) throw new Error(`unsupported condition operator ${operator}`);
  const values = context[key];
  const some = (value: string) => patterns.some((pattern) => matches(pattern, value));
  if (qualifier === 'ForAllValues') return (values ?? []).every(some);
  if (qualifier === 'ForAnyValue') return (values ?? []).some(some);
  if (qualifier !== undefined) throw new Error(`unsupported condition qualifier ${qualifier}`);
  if (values === undefined || values.length !== 1) return false;
  return some(values[0]!);
}

function statementApplies(statement: PolicyStatement, request: IamRequest): boolean {
  if (!statement.actions.some((action) => globMatches(action, request.action, { caseInsensitive: true }))) return false;
  if (!statement.resources.some((resource) => globMatches(resource, request.resource))) return false;
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, patterns] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, list(patterns), request.context)) return false;
    }
  }
  return true;
}

export function evaluate(statements: readonly PolicyStatement[], request: IamRequest): Decision {
  const applying = statements.filter((statement) => statementApplies(statement, request));
  if (applying.some((statement) => statement.Effect === 'Deny')) return 'explicitly denied';
  return applying.some((statement) => statement.Effect === 'Allow') ? 'allowed' : 'implicitly denied';
}

/** Resolves the CloudFormation intrinsics a synthesized policy uses (Ref, Fn::GetAtt, Fn::Join) to strings. */
export function resolveIntrinsics(value: unknown, resolve: { ref: (id: string) => string; getAtt: (id: string, attribute: string) => string }): string {
  if (typeof value === 'string') return value;
  const object = value as Record<string, unknown>;
  if ('Ref' in object) return resolve.ref(object['Ref'] as string);
  if ('Fn::GetAtt' in object) {
    const [id, attribute] = object['Fn::GetAtt'] as [string, string];
    return resolve.getAtt(id, attribute);
  }
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => resolveIntrinsics(part, resolve)).join(separator);
  }
  throw new Error(`unsupported intrinsic ${JSON.stringify(value)}`);
}
