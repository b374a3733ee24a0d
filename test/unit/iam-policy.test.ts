import { describe, expect, it } from '@jest/globals';
import { conditionHolds, evaluate, globMatches, resolveIntrinsics, type PolicyStatement } from '../support/iam-policy.ts';

const TABLE = 'arn:aws:dynamodb:eu-west-1:111122223333:table/directory';
const onlyTenants: PolicyStatement = {
  Effect: 'Allow',
  actions: ['dynamodb:GetItem', 'dynamodb:Query'],
  resources: [TABLE],
  Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['T#*', 'health'] } },
};
const keys = (...values: string[]) => ({ 'dynamodb:LeadingKeys': values });

describe('the test IAM evaluator', () => {
  it('globs like IAM: * any run, ? one character, everything else literal', () => {
    expect(globMatches('T#*', 'T#demo')).toBe(true);
    expect(globMatches('T#*', 'T#')).toBe(true);
    expect(globMatches('T#*', 'CARDS#demo')).toBe(false);
    expect(globMatches('T#?', 'T#ab')).toBe(false);
    expect(globMatches('a.b', 'axb')).toBe(false);
    expect(globMatches('health', 'healthy')).toBe(false);
    expect(globMatches('dynamodb:get*', 'dynamodb:GetItem', { caseInsensitive: true })).toBe(true);
  });

  it('ForAllValues:StringLike needs every value to match some pattern, and holds vacuously without the key', () => {
    expect(conditionHolds('ForAllValues:StringLike', 'dynamodb:LeadingKeys', ['T#*'], keys('T#a', 'T#b'))).toBe(true);
    expect(conditionHolds('ForAllValues:StringLike', 'dynamodb:LeadingKeys', ['T#*'], keys('T#a', 'CARDS#a'))).toBe(false);
    expect(conditionHolds('ForAllValues:StringLike', 'dynamodb:LeadingKeys', ['T#*'], {})).toBe(true);
    expect(conditionHolds('ForAnyValue:StringLike', 'dynamodb:LeadingKeys', ['T#*'], keys('X', 'T#a'))).toBe(true);
    expect(conditionHolds('StringEquals', 'kms:KeySpec', ['RSA_2048'], {})).toBe(false);
    expect(conditionHolds('StringEquals', 'kms:KeySpec', ['RSA_2048'], { 'kms:KeySpec': ['RSA_2048'] })).toBe(true);
  });

  it('throws on an operator it does not implement instead of passing it', () => {
    expect(() => conditionHolds('NumericLessThan', 'x', ['1'], {})).toThrow(/unsupported/);
    expect(() => conditionHolds('ForAllValues:Bool', 'x', ['true'], {})).toThrow(/unsupported/);
  });

  it('allows a matching request, refuses other partitions, actions and tables implicitly', () => {
    expect(evaluate([onlyTenants], { action: 'dynamodb:GetItem', resource: TABLE, context: keys('T#demo') })).toBe('allowed');
    expect(evaluate([onlyTenants], { action: 'dynamodb:GetItem', resource: TABLE, context: keys('CARDS#demo') })).toBe('implicitly denied');
    expect(evaluate([onlyTenants], { action: 'dynamodb:PutItem', resource: TABLE, context: keys('T#demo') })).toBe('implicitly denied');
    expect(evaluate([onlyTenants], { action: 'dynamodb:GetItem', resource: `${TABLE}/index/GSI1`, context: keys('T#demo') })).toBe('implicitly denied');
    expect(evaluate([], { action: 'dynamodb:GetItem', resource: TABLE, context: keys('T#demo') })).toBe('implicitly denied');
  });

  it('lets an explicit deny win over any allow', () => {
    const deny: PolicyStatement = { Effect: 'Deny', actions: ['dynamodb:*'], resources: ['*'] };
    expect(evaluate([onlyTenants, deny], { action: 'dynamodb:GetItem', resource: TABLE, context: keys('T#demo') })).toBe('explicitly denied');
  });

  it('resolves Ref, Fn::GetAtt and Fn::Join as CloudFormation would', () => {
    const resolve = { ref: (id: string) => (id === 'AWS::Partition' ? 'aws' : id), getAtt: (id: string, attribute: string) => `${id}.${attribute}` };
    expect(resolveIntrinsics({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Dir', 'Arn'] }, '/index/*']] }, resolve)).toBe('Dir.Arn/index/*');
    expect(resolveIntrinsics({ 'Fn::Join': [':', ['arn', { Ref: 'AWS::Partition' }]] }, resolve)).toBe('arn:aws');
    expect(() => resolveIntrinsics({ 'Fn::Sub': 'x' }, resolve)).toThrow(/unsupported/);
  });
});
