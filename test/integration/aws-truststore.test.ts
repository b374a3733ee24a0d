import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AwsTruststore } from '../../lambdas/adapters/aws-truststore.ts';
import { UnavailableError } from '../../lambdas/core/errors.ts';
import { buildTruststoreBundle } from '../../lambdas/core/pki/truststore.ts';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, VENV } from '../support/emulator.ts';
import { loopbackServer, type LoopbackServer } from '../support/loopback-server.ts';

/** boto3 (moto's own dependency, in the project venv) as a second, independent S3 client. */
function boto3(endpoint: string, script: string): string {
  return execFileSync(
    join(VENV, 'bin', 'python'),
    [
      '-c',
      `import boto3, sys, json\ns3 = boto3.client('s3', endpoint_url=${JSON.stringify(endpoint)}, region_name='${EMULATOR_REGION}', aws_access_key_id='testing', aws_secret_access_key='testing')\n${script}`,
    ],
    { encoding: 'utf8' },
  );
}

/**
 * The admin function's truststore writer against real endpoints: S3 on the emulator (a versioned bucket,
 * read back with boto3), and a loopback listener standing where API Gateway's UpdateDomainName is (moto
 * has no UpdateDomainName): it records the signed PATCH the writer sends.
 */
describe('AWS truststore writer (S3 PutObject + UpdateDomainName)', () => {
  const endpoint = process.env['CLOUDCARD_TEST_EMULATOR']!;
  const bucket = `cc-truststore-${randomBytes(4).toString('hex')}`;
  let apiGateway: LoopbackServer;
  const patches: { path: string; authorization: string; body: any }[] = [];
  let answer = 200;

  beforeAll(async () => {
    boto3(endpoint, `s3.create_bucket(Bucket='${bucket}')\ns3.put_bucket_versioning(Bucket='${bucket}', VersioningConfiguration={'Status': 'Enabled'})`);
    apiGateway = await loopbackServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        patches.push({
          path: `${request.method} ${request.url}`,
          authorization: String(request.headers['authorization']),
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        });
        response
          .writeHead(answer, { 'Content-Type': 'application/json' })
          .end(answer === 200 ? '{"domainName":"cert.example.com"}' : '{"message":"Truststore not valid"}');
      });
    });
  });
  afterAll(async () => {
    await apiGateway?.close();
  });

  const writer = (bucketName = bucket) =>
    new AwsTruststore({
      bucket: bucketName,
      key: 'truststore.pem',
      domainName: 'cert.example.com',
      region: EMULATOR_REGION,
      credentials: EMULATOR_CREDENTIALS,
      endpoints: { s3: endpoint, apiGateway: apiGateway.url },
    });

  it('puts each bundle as a new object version and switches the domain to exactly that version', async () => {
    const first = buildTruststoreBundle([]).pem;
    await writer().write(first);
    await writer().write(`${first}${first}`);
    const versions = JSON.parse(
      boto3(
        endpoint,
        `print(json.dumps([{'id': v['VersionId'], 'latest': v['IsLatest']} for v in s3.list_object_versions(Bucket='${bucket}', Prefix='truststore.pem')['Versions']]))`,
      ),
    ) as { id: string; latest: boolean }[];
    expect(versions).toHaveLength(2);
    const latest = versions.find((v) => v.latest)!.id;
    expect(boto3(endpoint, `sys.stdout.write(s3.get_object(Bucket='${bucket}', Key='truststore.pem')['Body'].read().decode())`)).toBe(`${first}${first}`);
    expect(patches).toHaveLength(2);
    expect(patches[1]).toMatchObject({
      path: 'PATCH /domainnames/cert.example.com',
      body: { patchOperations: [{ op: 'replace', path: '/mutualTlsAuthentication/truststoreVersion', value: latest }] },
    });
    expect(patches[1]!.authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=testing/\\d{8}/${EMULATOR_REGION}/apigateway/aws4_request, SignedHeaders=[a-z0-9;-]*host`),
    );
    expect(patches[0]!.body.patchOperations[0].value).not.toBe(latest);
  });

  it('reports an unavailable truststore when S3 or API Gateway refuses, without switching the domain', async () => {
    const before = patches.length;
    await expect(writer('cc-truststore-no-such-bucket').write('x')).rejects.toBeInstanceOf(UnavailableError);
    expect(patches).toHaveLength(before);
    answer = 400;
    await expect(writer().write(buildTruststoreBundle([]).pem)).rejects.toThrow(/apigateway PATCH answered 400/);
  });
});
