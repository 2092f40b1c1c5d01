import { DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { envelope, ferry, type CliResult } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../helpers/moto.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * `ferry push` to an Amazon ECR host. moto (the AWS emulator, a real server) answers the ECR API:
 * the repository and the authorization token. The image itself goes to a real registry
 * (docker-registry with htpasswd) that accepts exactly the token moto hands out, reached through
 * `registries.<ECR host>.endpoint`. Fault proxies sit in front of both: the one before moto counts
 * the API calls by operation and injects throttling and AccessDenied, the one before the registry
 * injects a 401 mid-push (an expired token). Every ferry run is --debug, and its output is checked
 * for the planted AWS secret key and the ECR token.
 */
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
/** A recognisable fake secret key: it must never appear in anything ferry prints. */
const CANARY_SECRET = 'FERRYCANARYsecretKEY0123456789abcdefWXYZ';

let moto: Moto;
let aws: FaultProxy;
let registry: TestRegistry;
let regProxy: FaultProxy;
let work: string;
let token: string;
let password: string;
let sdk: ECRClient;

interface PushJson {
  image: string;
  digest: string;
  blobs: { uploaded: number; skipped: number; mounted: number };
  requests: number;
}

const awsEnv = (): Record<string, string | undefined> => ({ ...moto.env, AWS_ENDPOINT_URL: aws.url, AWS_SECRET_ACCESS_KEY: CANARY_SECRET });

const env = (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  XDG_CONFIG_HOME: path.join(work, 'xdg'),
  ...awsEnv(),
  ...extra,
});

let n = 0;
async function project(repository: string, ecrSettings = ''): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  // A different file per project: a different image, so every push has blobs to upload.
  await writeFile(path.join(dir, 'hello.txt'), `hello from project ${++n}\n`);
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${ECR_HOST}/${repository}\n  tags: [v1]\nregistries:\n  ${ECR_HOST}:\n    endpoint: ${regProxy.url}\n${ecrSettings}`,
  );
  return dir;
}

/** Runs ferry with --debug and --json, and checks that no secret reached its output. */
async function push(dir: string, extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
  const r = await ferry(['push', '--json', '--debug'], { cwd: dir, env: env(extraEnv) });
  for (const secret of [CANARY_SECRET, token, password]) {
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);
  }
  return r;
}

const calls = (op: string, from = 0): number => aws.requests.slice(from).filter((q) => q.target?.endsWith(`.${op}`) === true).length;

async function describeRepo(name: string): Promise<{ imageTagMutability?: string | undefined; imageScanningConfiguration?: { scanOnPush?: boolean | undefined } | undefined }> {
  const out = await sdk.send(new DescribeRepositoriesCommand({ repositoryNames: [name] }));
  const repo = out.repositories?.[0];
  if (repo === undefined) throw new Error(`no repository ${name} in moto`);
  return repo;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-ecr-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  moto = await startMoto();
  aws = await startFaultProxy(moto.url);
  sdk = new ECRClient({ region: 'us-east-1', endpoint: moto.url, credentials: { accessKeyId: 'AKIAFERRYTESTKEY0001', secretAccessKey: 'x' } });
  // The registry must accept exactly the token moto gives ferry: ask moto for it, then write it
  // into the registry's htpasswd as user AWS.
  const t = await sdk.send(new GetAuthorizationTokenCommand({}));
  token = t.authorizationData?.[0]?.authorizationToken ?? '';
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  expect(decoded.startsWith('AWS:')).toBe(true);
  password = decoded.slice('AWS:'.length);
  registry = await startRegistry({ mode: 'htpasswd', extraUsers: { AWS: password } });
  regProxy = await startFaultProxy(registry.url);
});

afterAll(async () => {
  await regProxy.stop();
  await aws.stop();
  await registry.stop();
  await moto.stop();
});

beforeEach(() => {
  aws.setRules([]);
  regProxy.setRules([]);
});

describe('ferry push to ECR (moto + a real registry)', () => {
  it('creates the repository, pushes with the GetAuthorizationToken token, and prints the pinned reference', async () => {
    const dir = await project('team/app');
    const from = aws.requests.length;
    const r = await push(dir);
    expect(r.code, r.stderr).toBe(0);
    const out = envelope<PushJson>(r).result;
    expect(out?.image).toMatch(new RegExp(`^${ECR_HOST.replaceAll('.', '\\.')}/team/app@sha256:[0-9a-f]{64}$`));
    // The repository now exists in moto, with the defaults.
    const repo = await describeRepo('team/app');
    expect(repo.imageTagMutability).toBe('MUTABLE');
    expect(repo.imageScanningConfiguration?.scanOnPush).toBe(false);
    expect(calls('DescribeRepositories', from)).toBe(1);
    expect(calls('CreateRepository', from)).toBe(1);
    // One token for the whole push, however many registry requests it took.
    expect(calls('GetAuthorizationToken', from)).toBe(1);
    expect(out?.requests ?? 0).toBeGreaterThan(3);
    // The registry (which only knows AWS:<moto's password>) has the manifest.
    const res = await fetch(`${registry.url}/v2/team/app/manifests/${out?.digest ?? ''}`, {
      method: 'HEAD',
      headers: { authorization: `Basic ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status).toBe(200);

    // A second push: the repository is there (no CreateRepository), one token again.
    const again = aws.requests.length;
    const r2 = await push(dir);
    expect(r2.code, r2.stderr).toBe(0);
    expect(envelope<PushJson>(r2).result?.digest).toBe(out?.digest);
    expect(calls('CreateRepository', again)).toBe(0);
    expect(calls('GetAuthorizationToken', again)).toBe(1);
  });

  it('creates the repository with tag immutability and scan on push from ferry.yaml', async () => {
    const dir = await project('team/locked', '    ecr: {tagImmutability: true, scanOnPush: true}\n');
    const r = await push(dir);
    expect(r.code, r.stderr).toBe(0);
    const repo = await describeRepo('team/locked');
    expect(repo.imageTagMutability).toBe('IMMUTABLE');
    expect(repo.imageScanningConfiguration?.scanOnPush).toBe(true);
  });

  it('fetches a new token when the registry refuses the old one mid-push, and completes', async () => {
    const dir = await project('team/expiring');
    // The first blob upload is refused as ECR refuses an expired token.
    regProxy.setRules([
      {
        method: 'PUT',
        path: /\/blobs\/uploads\//,
        action: { kind: 'status', status: 401, headers: { 'www-authenticate': 'Basic realm="ferry-test"' }, body: '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}' },
      },
    ]);
    const from = aws.requests.length;
    const r = await push(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(regProxy.fired).toEqual([1]);
    expect(calls('GetAuthorizationToken', from)).toBe(2);
  });

  it('rides out a burst of throttling on GetAuthorizationToken (the SDK retries)', async () => {
    const dir = await project('team/throttled');
    aws.setRules([
      {
        target: /\.GetAuthorizationToken$/,
        times: 2,
        action: {
          kind: 'status',
          status: 400,
          headers: { 'content-type': 'application/x-amz-json-1.1' },
          body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }),
        },
      },
    ]);
    const r = await push(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(aws.fired).toEqual([2]);
  });

  it('AccessDenied from the ECR API is ECR_ACCESS_DENIED, exit 77', async () => {
    const dir = await project('team/denied');
    aws.setRules([
      {
        target: /\.DescribeRepositories$/,
        times: Infinity,
        action: {
          kind: 'status',
          status: 400,
          headers: { 'content-type': 'application/x-amz-json-1.1' },
          body: JSON.stringify({ __type: 'AccessDeniedException', message: 'User is not authorized to perform: ecr:DescribeRepositories' }),
        },
      },
    ]);
    const r = await push(dir);
    expect(r.code).toBe(77);
    expect(envelope(r).error?.code).toBe('ECR_ACCESS_DENIED');
  });

  it('no AWS credentials anywhere is ECR_CREDENTIALS_MISSING, exit 78, before any AWS request', async () => {
    const dir = await project('team/nocreds');
    const from = aws.requests.length;
    const r = await push(dir, { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
    expect(r.code).toBe(78);
    expect(envelope(r).error?.code).toBe('ECR_CREDENTIALS_MISSING');
    expect(aws.requests.length).toBe(from);
  });

  it.each([
    ['over 256 characters', `team/${'a'.repeat(260)}`],
    ['uppercase letters', 'Team/App'],
    ['a trailing separator', 'team/app-'],
  ])('refuses an ECR repository name with %s before any AWS call (ECR_REPOSITORY_NAME_INVALID, 78)', async (_what, repository) => {
    const dir = await project(repository);
    const from = aws.requests.length;
    const r = await push(dir);
    expect(r.code).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toBe('ECR_REPOSITORY_NAME_INVALID');
    // file:line:column of image.name (line 3 of the generated ferry.yaml)
    expect(e?.where).toMatch(/ferry\.yaml:3:\d+ \(image\.name\)$/);
    expect(aws.requests.length).toBe(from);
  });
});
