/**
 * AWS Batch in moto for e2e tests: an IAM service role, an UNMANAGED compute environment and a job
 * queue, with either moto's Docker-less Batch (jobs end at once without running) or its Docker
 * Batch (jobs really run, through whatever Docker API DOCKER_HOST names in moto's environment).
 */
import { BatchClient, CreateComputeEnvironmentCommand, CreateJobQueueCommand } from '@aws-sdk/client-batch';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { MOTO_ACCOUNT } from './moto.js';

export const TEST_CREDENTIALS = { accessKeyId: 'AKIAFERRYTESTKEY0001', secretAccessKey: 'x' };

async function expectOk(res: Response, what: string): Promise<void> {
  if (res.status >= 300) throw new Error(`${what}: HTTP ${String(res.status)} ${await res.text()}`);
}

/** moto's IAM, through its Query API: the compute environment needs an existing service role. */
export async function createRole(motoUrl: string, name: string): Promise<string> {
  const body = new URLSearchParams({
    Action: 'CreateRole',
    Version: '2010-05-08',
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'batch.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
  });
  const res = await fetch(motoUrl, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=${TEST_CREDENTIALS.accessKeyId}/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
  });
  await expectOk(res, 'CreateRole');
  return `arn:aws:iam::${MOTO_ACCOUNT}:role/${name}`;
}

/** A compute environment and `queue` in this moto; `useDocker: false` makes jobs end without running. */
export async function setUpBatch(motoUrl: string, queue: string, opts: { useDocker: boolean }): Promise<BatchClient> {
  const cfg = await fetch(`${motoUrl}/moto-api/config`, { method: 'POST', body: JSON.stringify({ batch: { use_docker: opts.useDocker } }), headers: { 'content-type': 'application/json' } });
  await expectOk(cfg, 'moto config');
  const client = new BatchClient({ region: 'us-east-1', endpoint: motoUrl, credentials: TEST_CREDENTIALS });
  const role = await createRole(motoUrl, 'ferry-batch-service');
  const ce = await client.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: `${queue}-ce`, type: 'UNMANAGED', state: 'ENABLED', serviceRole: role }));
  await client.send(new CreateJobQueueCommand({ jobQueueName: queue, priority: 1, state: 'ENABLED', computeEnvironmentOrder: [{ order: 1, computeEnvironment: ce.computeEnvironmentArn ?? '' }] }));
  return client;
}

/** The password moto's ECR hands out (GetAuthorizationToken), for a registry that accepts exactly it. */
export async function ecrPassword(motoUrl: string): Promise<string> {
  const ecr = new ECRClient({ region: 'us-east-1', endpoint: motoUrl, credentials: TEST_CREDENTIALS });
  const t = await ecr.send(new GetAuthorizationTokenCommand({}));
  return Buffer.from(t.authorizationData?.[0]?.authorizationToken ?? '', 'base64').toString('utf8').slice('AWS:'.length);
}
