import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetAliasCommand, GetFunctionCommand, LambdaClient, ListVersionsByFunctionCommand } from '@aws-sdk/client-lambda';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { envelope, ferry, type CliResult } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../helpers/moto.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * `ferry deploy` and `ferry plan` on a `type: aws-lambda` target, end to end. moto (a real server)
 * answers the Lambda and ECR APIs; the image goes to a real registry behind
 * `registries.<ECR host>.endpoint`, as in cli-ecr.test.ts. moto's Lambda runs functions with docker
 * only for its zip runtimes (an Image function's invoke is not supported there), so the tests use
 * its Docker-less Lambda (`lambda: {use_docker: false}` through /moto-api/config): Invoke answers
 * with the event it was given, or with results queued through /moto-api/static/lambda-simple/response.
 * moto does not check Code.ImageUri against its ECR by default (MOTO_LAMBDA_STUB_ECR), so the image
 * that matters is the one in the real registry, which ferry pushed. A fault proxy in front of moto
 * records every AWS request (to count Lambda's write calls) and injects conflicts, throttling and a
 * canned invocation answer with an error and a log tail. Every run is --debug with planted canary
 * credentials, and its output is checked for them.
 */
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const ROLE = `arn:aws:iam::${MOTO_ACCOUNT}:role/ferry-lambda-exec`;
const CANARY_SECRET = 'FERRYCANARYlambdaSECRET0123456789abcdefXYZ';
const CANARY_TOKEN = 'FERRYCANARYlambdaSESSIONtoken9876543210zyxw';

let moto: Moto;
let aws: FaultProxy;
let registry: TestRegistry;
let work: string;
let lambda: LambdaClient;
let password: string;

interface InvokeJson {
  statusCode: number;
  functionError?: string;
  executedVersion?: string;
  response: string;
  logTail: string;
}
interface DeployJson {
  target: string;
  type: string;
  image: string;
  state: string;
  exitCode: number;
  reason?: string;
  handle: { id: string; ref: Record<string, string> };
  invoke?: InvokeJson;
}
interface PlanJson {
  type: string;
  image: { ref: string };
  requests: { service: string; action: string; payload: Record<string, unknown> }[];
  notes: string[];
}

const env = (): Record<string, string | undefined> => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  XDG_CONFIG_HOME: path.join(work, 'xdg'),
  ...moto.env,
  AWS_ENDPOINT_URL: aws.url,
  AWS_SECRET_ACCESS_KEY: CANARY_SECRET,
  AWS_SESSION_TOKEN: CANARY_TOKEN,
});

let n = 0;
/** A project whose image differs from every other's (hello.txt), with one target "fn". */
async function project(target: string, opts: { job?: string; imageName?: string | undefined; image?: string; env?: string } = {}): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await writeFile(path.join(dir, 'hello.txt'), `hello from lambda project ${++n}\n`);
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${opts.imageName ?? `${ECR_HOST}/team/fn`}\n${opts.image ?? ''}registries:\n  ${ECR_HOST}:\n    endpoint: ${registry.url}\n  ${registry.host}: {insecure: true}\njob:\n  env: {${opts.env ?? 'STAGE: e2e'}}\n${opts.job ?? ''}targets:\n  fn:\n${target}`,
  );
  return dir;
}

const lambdaTarget = (fn: string, more = ''): string => `    type: aws-lambda\n    functionName: ${fn}\n    role: ${ROLE}\n${more}`;

/** Runs ferry with --debug (and --json unless `human`), and checks that no secret reached its output. */
async function run(args: string[], dir: string, opts: { human?: boolean; stdin?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
  const r = await ferry([...args, ...(opts.human === true ? [] : ['--json']), '--debug'], {
    cwd: dir,
    env: { ...env(), ...opts.env },
    timeoutMs: 180_000,
    ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }),
  });
  for (const secret of [CANARY_SECRET, CANARY_TOKEN, password]) {
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);
  }
  return r;
}

/** Lambda API requests since `from`, as "METHOD /path" below /2015-03-31/functions. */
const lambdaCalls = (from: number): string[] =>
  aws.requests
    .slice(from)
    .filter((q) => q.path.startsWith('/2015-03-31/functions'))
    .map((q) => `${q.method} ${q.path.replace(/\?.*$/, '').slice('/2015-03-31/functions'.length) || '/'}`);
/** The calls that change something (Invoke runs the function, but changes no configuration). */
const writes = (from: number): string[] => lambdaCalls(from).filter((c) => !c.startsWith('GET ') && !c.endsWith('/invocations'));

async function getFunction(name: string) {
  return lambda.send(new GetFunctionCommand({ FunctionName: name }));
}

/** moto's IAM, through its Query API: moto's CreateFunction checks that the role exists. */
async function createRole(name: string): Promise<void> {
  const body = new URLSearchParams({
    Action: 'CreateRole',
    Version: '2010-05-08',
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
  });
  const res = await fetch(moto.url, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIAFERRYTESTKEY0001/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-lambda-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  moto = await startMoto();
  aws = await startFaultProxy(moto.url, [], 1_800_000);
  const cfg = await fetch(`${moto.url}/moto-api/config`, { method: 'POST', body: JSON.stringify({ lambda: { use_docker: false } }), headers: { 'content-type': 'application/json' } });
  expect(cfg.status).toBe(201);
  await createRole('ferry-lambda-exec');
  const credentials = { accessKeyId: 'AKIAFERRYTESTKEY0001', secretAccessKey: 'x' };
  lambda = new LambdaClient({ region: 'us-east-1', endpoint: moto.url, credentials });
  // The registry accepts exactly the token moto's ECR hands out.
  const ecr = new ECRClient({ region: 'us-east-1', endpoint: moto.url, credentials });
  const t = await ecr.send(new GetAuthorizationTokenCommand({}));
  password = Buffer.from(t.authorizationData?.[0]?.authorizationToken ?? '', 'base64').toString('utf8').slice('AWS:'.length);
  registry = await startRegistry({ mode: 'htpasswd', extraUsers: { AWS: password } });
}, 180_000);

afterAll(async () => {
  await aws.stop();
  await registry.stop();
  await moto.stop();
});

beforeEach(() => {
  aws.setRules([]);
});

describe('ferry deploy / plan on an aws-lambda target (moto + a real registry)', () => {
  it('creates the function, then updates only what changed; unchanged sends no write; plan writes nothing', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-ingest', '    ephemeralStorage: 1Gi\n'), { job: '  resources: {memory: 1Gi}\n  timeout: 5m\n' });
    const from = aws.requests.length;
    const r = await run(['deploy', 'fn'], dir);
    expect(r.code, r.stdout + r.stderr.slice(-3000)).toBe(0);
    const out = envelope<DeployJson>(r).result;
    expect(out?.type).toBe('aws-lambda');
    expect(out?.state).toBe('succeeded');
    expect(out?.exitCode).toBe(0);
    expect(out?.handle.ref['action']).toBe('created');
    // The deploy's handle is saved (one id per deploy), and `ferry status` reads the function's state back.
    expect(out?.handle.id).toMatch(/^\d{8}-[0-9a-f]{12}$/);
    expect(r.stderr).not.toContain('handle was not saved');
    const st = envelope<{ state: string; handle: { id: string } }>(await run(['status', '--id', 'ferry-e2e-ingest'], dir));
    expect(st.result).toMatchObject({ state: 'succeeded', handle: { id: out?.handle.id } });
    expect(out?.image).toMatch(new RegExp(`^${ECR_HOST.replaceAll('.', '\\.')}/team/fn@sha256:[0-9a-f]{64}$`));
    expect(writes(from)).toEqual(['POST /']);
    // The waiter polled GetFunction after the create.
    expect(lambdaCalls(from).filter((c) => c === 'GET /ferry-e2e-ingest').length).toBeGreaterThanOrEqual(2);

    // What moto holds: an Image function on the pinned image, with job's settings.
    const fn = await getFunction('ferry-e2e-ingest');
    expect(fn.Code?.ImageUri).toBe(out?.image);
    expect(fn.Configuration?.PackageType).toBe('Image');
    expect(fn.Configuration?.Architectures).toEqual(['x86_64']);
    expect(fn.Configuration?.MemorySize).toBe(1024);
    expect(fn.Configuration?.Timeout).toBe(300);
    expect(fn.Configuration?.EphemeralStorage?.Size).toBe(1024);
    expect(fn.Configuration?.Role).toBe(ROLE);
    expect(fn.Configuration?.Environment?.Variables).toEqual({ STAGE: 'e2e' });
    expect(fn.Tags?.['ferry:target']).toBe('fn');

    // The same image and settings again: GetFunction only, nothing written.
    const again = aws.requests.length;
    const r2 = await run(['deploy', 'fn'], dir, { human: true });
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toContain('nothing to update');
    expect(writes(again)).toEqual([]);

    // New code: plan shows UpdateFunctionCode with the new digest and writes nothing.
    await writeFile(path.join(dir, 'hello.txt'), 'changed code\n');
    const p0 = aws.requests.length;
    const p = await run(['plan', 'fn'], dir);
    expect(p.code, p.stderr).toBe(0);
    const plan = envelope<PlanJson>(p).result;
    expect(plan?.type).toBe('aws-lambda');
    expect(plan?.requests.map((q) => q.action)).toEqual(['GetFunction', 'UpdateFunctionCode']);
    expect(plan?.requests[1]?.payload).toEqual({ FunctionName: 'ferry-e2e-ingest', ImageUri: plan?.image.ref, Architectures: ['x86_64'] });
    expect(plan?.image.ref).not.toBe(out?.image);
    expect(writes(p0)).toEqual([]);
    expect((await getFunction('ferry-e2e-ingest')).Code?.ImageUri).toBe(out?.image);

    // deploy sends it: UpdateFunctionCode only, to the digest plan printed.
    const u0 = aws.requests.length;
    const u = await run(['deploy', 'fn'], dir);
    expect(u.code, u.stderr).toBe(0);
    const updated = envelope<DeployJson>(u).result;
    expect(updated?.handle.ref['action']).toBe('updated');
    expect(updated?.image).toBe(plan?.image.ref);
    expect(writes(u0)).toEqual(['PUT /ferry-e2e-ingest/code']);
    expect((await getFunction('ferry-e2e-ingest')).Code?.ImageUri).toBe(updated?.image);

    // A changed setting: UpdateFunctionConfiguration only.
    const dir2 = await project(lambdaTarget('ferry-e2e-ingest', '    ephemeralStorage: 1Gi\n'), { job: '  resources: {memory: 2Gi}\n  timeout: 5m\n' });
    await writeFile(path.join(dir2, 'hello.txt'), 'changed code\n');
    const c0 = aws.requests.length;
    const c = await run(['deploy', 'fn'], dir2);
    expect(c.code, c.stderr).toBe(0);
    expect(envelope<DeployJson>(c).result?.image).toBe(updated?.image);
    expect(writes(c0)).toEqual(['PUT /ferry-e2e-ingest/configuration']);
    expect((await getFunction('ferry-e2e-ingest')).Configuration?.MemorySize).toBe(2048);
  }, 300_000);

  it('deploy --invoke prints the response on stdout; --payload FILE and --payload - send the event', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-invoke'));
    await writeFile(path.join(dir, 'event.json'), '{"date": "2024-01-01"}');
    // moto's Docker-less Lambda answers with the event it was given.
    const r = await run(['deploy', 'fn', '--invoke', '--payload', 'event.json'], dir, { human: true });
    expect(r.code, r.stdout + r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout.trim()).toBe('{"date": "2024-01-01"}');
    expect(r.stderr).toContain('invoking ferry-e2e-invoke');

    const j = await run(['deploy', 'fn', '--invoke', '--payload', '-'], dir, { stdin: '{"from": "stdin"}' });
    expect(j.code, j.stderr).toBe(0);
    const out = envelope<DeployJson>(j).result;
    expect(out?.invoke).toMatchObject({ statusCode: 200, response: '{"from": "stdin"}' });
    expect(out?.invoke?.functionError).toBeUndefined();
    // Without --invoke: no Invoke call, exit 0 once the function is ready.
    const q0 = aws.requests.length;
    const plain = await run(['deploy', 'fn'], dir);
    expect(plain.code, plain.stderr).toBe(0);
    expect(lambdaCalls(q0).filter((c) => c.endsWith('/invocations'))).toEqual([]);
  }, 180_000);

  it('a function error (FunctionError) exits non-zero; the base64 log tail is decoded on stderr', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-error'));
    const tail = 'START RequestId: 1\nTraceback: boom at line 3\nEND RequestId: 1\n';
    aws.setRules([
      {
        method: 'POST',
        path: /\/invocations/,
        action: {
          kind: 'status',
          status: 200,
          headers: { 'x-amz-function-error': 'Unhandled', 'x-amz-log-result': Buffer.from(tail).toString('base64'), 'x-amz-executed-version': '$LATEST' },
          body: JSON.stringify({ errorType: 'ValueError', errorMessage: 'boom' }),
        },
      },
    ]);
    const r = await run(['deploy', 'fn', '--invoke'], dir);
    expect(aws.fired).toEqual([1]);
    expect(r.code, r.stderr).toBe(1);
    const out = envelope<DeployJson>(r).result;
    expect(out?.state).toBe('failed');
    expect(out?.invoke?.functionError).toBe('Unhandled');
    expect(out?.invoke?.logTail).toBe(tail);
    expect(out?.reason).toContain('ValueError: boom');
    expect(r.stderr).toContain('  Traceback: boom at line 3');
  }, 180_000);

  it('publish: true and alias: publish a version and create the alias, then move it on the next deploy', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-alias', '    publish: true\n    alias: live\n'));
    const r = await run(['deploy', 'fn', '--invoke'], dir);
    expect(r.code, r.stdout + r.stderr.slice(-3000)).toBe(0);
    const out = envelope<DeployJson>(r).result;
    expect(out?.handle.ref['version']).toBe('1');
    expect(out?.handle.ref['alias']).toBe('live');
    expect((await lambda.send(new GetAliasCommand({ FunctionName: 'ferry-e2e-alias', Name: 'live' }))).FunctionVersion).toBe('1');
    // The invocation went to the alias.
    expect(aws.requests.some((q) => q.method === 'POST' && q.path.startsWith('/2015-03-31/functions/ferry-e2e-alias/invocations?Qualifier=live'))).toBe(true);

    await writeFile(path.join(dir, 'hello.txt'), 'version two\n');
    const p0 = aws.requests.length;
    const p = await run(['plan', 'fn'], dir);
    expect(p.code, p.stderr).toBe(0);
    expect(envelope<PlanJson>(p).result?.requests.map((q) => q.action)).toEqual(['GetFunction', 'GetAlias', 'UpdateFunctionCode', 'PublishVersion', 'UpdateAlias']);
    expect(writes(p0)).toEqual([]);

    const u0 = aws.requests.length;
    const u = await run(['deploy', 'fn'], dir);
    expect(u.code, u.stderr).toBe(0);
    expect(envelope<DeployJson>(u).result?.handle.ref['version']).toBe('2');
    expect(writes(u0)).toEqual(['PUT /ferry-e2e-alias/code', 'POST /ferry-e2e-alias/versions', 'PUT /ferry-e2e-alias/aliases/live']);
    expect((await lambda.send(new GetAliasCommand({ FunctionName: 'ferry-e2e-alias', Name: 'live' }))).FunctionVersion).toBe('2');
    const versions = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'ferry-e2e-alias' }));
    expect(versions.Versions?.map((v) => v.Version)).toEqual(['$LATEST', '1', '2']);
  }, 300_000);

  it('an update that meets another in progress (ResourceConflictException) waits and tries again', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-conflict'));
    const r = await run(['deploy', 'fn'], dir);
    expect(r.code, r.stdout + r.stderr.slice(-3000)).toBe(0);
    await writeFile(path.join(dir, 'hello.txt'), 'conflicting update\n');
    aws.setRules([
      {
        method: 'PUT',
        path: /\/ferry-e2e-conflict\/code/,
        action: {
          kind: 'status',
          status: 409,
          headers: { 'x-amzn-errortype': 'ResourceConflictException' },
          body: JSON.stringify({ Type: 'User', message: 'The operation cannot be performed at this time. An update is in progress for resource: ferry-e2e-conflict' }),
        },
      },
    ]);
    const u0 = aws.requests.length;
    const u = await run(['deploy', 'fn'], dir);
    expect(aws.fired).toEqual([1]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stderr).toContain('another update of ferry-e2e-conflict is in progress');
    const calls = lambdaCalls(u0);
    expect(calls.filter((c) => c === 'PUT /ferry-e2e-conflict/code')).toHaveLength(2);
    // Between the two: the waiter's GetFunction.
    const first = calls.indexOf('PUT /ferry-e2e-conflict/code');
    expect(calls.slice(first + 1, calls.lastIndexOf('PUT /ferry-e2e-conflict/code'))).toContain('GET /ferry-e2e-conflict');
    expect((await getFunction('ferry-e2e-conflict')).Code?.ImageUri).toBe(envelope<DeployJson>(u).result?.image);
  }, 180_000);

  it('rides out throttling (the SDK retries); throttling that persists is LAMBDA_THROTTLED (75)', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-throttled'));
    const throttle = {
      kind: 'status' as const,
      status: 429,
      headers: { 'x-amzn-errortype': 'TooManyRequestsException' },
      body: JSON.stringify({ Type: 'User', message: 'Rate exceeded', Reason: 'CallerRateLimitExceeded' }),
    };
    aws.setRules([{ method: 'GET', path: /^\/2015-03-31\/functions\/ferry-e2e-throttled$/, times: 2, action: throttle }]);
    const r = await run(['deploy', 'fn'], dir);
    expect(aws.fired).toEqual([2]);
    expect(r.code, r.stdout + r.stderr.slice(-3000)).toBe(0);

    aws.setRules([{ method: 'GET', path: /^\/2015-03-31\/functions\/ferry-e2e-throttled$/, times: Infinity, action: throttle }]);
    const t = await run(['plan', 'fn'], dir, { env: { AWS_MAX_ATTEMPTS: '2' } });
    expect(t.code, t.stderr).toBe(75);
    expect(envelope(t).error?.code).toBe('LAMBDA_THROTTLED');
  }, 180_000);

  it.each([
    ['an image outside ECR', { imageName: 'REGISTRY/team/fn' }, '', '', 'LAMBDA_IMAGE_NOT_IN_ECR', /ferry\.yaml:3:\d+ \(image\.name\)$/],
    ['ECR of another account', { imageName: `210987654321.dkr.ecr.us-east-1.amazonaws.com/team/fn` }, '', '', 'LAMBDA_IMAGE_NOT_IN_ECR', /\(image\.name\)$/],
    ['ECR of another region', { imageName: `${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team/fn` }, '', '', 'LAMBDA_IMAGE_NOT_IN_ECR', /\(image\.name\)$/],
    ['an architecture the image does not have', {}, '    architecture: arm64\n', '', 'LAMBDA_ARCHITECTURE_MISMATCH', /ferry\.yaml:\d+:\d+ \(targets\.fn\.architecture\)$/],
    ['a platform Lambda does not run', { image: '  platform: linux/arm/v7\n' }, '', '', 'LAMBDA_ARCHITECTURE_UNSUPPORTED', /\(image\.platform\)$/],
    ['memory under 128 MB', {}, '', '  resources: {memory: 64Mi}\n', 'LAMBDA_BAD_VALUE', /ferry\.yaml:\d+:\d+ \(job\.resources\.memory\)$/],
    ['a timeout over 15 minutes', {}, '', '  timeout: 20m\n', 'LAMBDA_BAD_VALUE', /\(job\.timeout\)$/],
    ['a reserved variable', { env: 'AWS_REGION: eu-west-1' }, '', '', 'LAMBDA_BAD_VALUE', /\(job\.env\)$/],
  ])('refuses %s before the build and any AWS call', async (_what, opts: { imageName?: string; image?: string; env?: string }, more, job, code, where) => {
    const dir = await project(lambdaTarget('ferry-e2e-bad', more), { ...opts, imageName: opts.imageName?.replace('REGISTRY', registry.host), job });
    const from = aws.requests.length;
    const r = await run(['deploy', 'fn'], dir);
    expect(r.code, r.stderr).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toBe(code);
    expect(e?.where).toMatch(where);
    expect(e?.suggestions.length).toBeGreaterThan(0);
    expect(aws.requests.length).toBe(from);
    // Nothing was built: no layout was written next to ferry.yaml.
    expect(existsSync(path.join(dir, '.ferry'))).toBe(false);
  }, 120_000);

  it.each([
    ['a role that is not an IAM role ARN', lambdaTarget('ferry-e2e-bad').replace(ROLE, 'lambda-exec'), 'targets.fn.role'],
    ['an alias without publish', lambdaTarget('ferry-e2e-bad', '    alias: live\n'), 'targets.fn.alias'],
  ])('refuses %s as a configuration error at its key', async (_what, target, key) => {
    const dir = await project(target);
    const from = aws.requests.length;
    const r = await run(['deploy', 'fn'], dir);
    expect(r.code, r.stderr).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toMatch(/^CONFIG_/);
    expect(e?.where).toContain(key);
    expect(aws.requests.length).toBe(from);
  }, 60_000);

  it('bad --payload files and --invoke where nothing can be invoked are usage errors (64) before any AWS call', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-bad'));
    await writeFile(path.join(dir, 'not.json'), '{"date": 2024-01-01');
    const from = aws.requests.length;
    for (const [args, code] of [
      [['--invoke', '--payload', 'missing.json'], 'USAGE_BAD_PAYLOAD'],
      [['--invoke', '--payload', 'not.json'], 'USAGE_BAD_PAYLOAD'],
      [['--payload', 'not.json'], 'USAGE_BAD_PAYLOAD'],
    ] as const) {
      const r = await run(['deploy', 'fn', ...args], dir);
      expect(r.code, r.stderr).toBe(64);
      expect(envelope(r).error?.code).toBe(code);
      expect(envelope(r).error?.where).toBe('--payload');
    }
    const batch = await project('    type: aws-batch\n    queue: q\n');
    const b = await run(['deploy', 'fn', '--invoke'], batch);
    expect(b.code, b.stderr).toBe(64);
    expect(envelope(b).error?.code).toBe('USAGE_INVOKE_UNSUPPORTED');
    expect(envelope(b).error?.message).toContain('aws-batch');
    const local = await project('    type: local\n');
    const l = await run(['deploy', 'fn', '--invoke'], local);
    expect(l.code, l.stderr).toBe(64);
    expect(envelope(l).error?.code).toBe('USAGE_INVOKE_UNSUPPORTED');
    expect(aws.requests.length).toBe(from);
  }, 120_000);

  it('ferry targets lists aws-lambda with its capabilities; the config schema and validate know it', async () => {
    const dir = await project(lambdaTarget('ferry-e2e-list', '    publish: true\n    alias: live\n    architecture: x86_64\n'));
    const t = await run(['targets'], dir);
    expect(t.code, t.stderr).toBe(0);
    const kinds = envelope<{ kinds: { type: string; capabilities: Record<string, boolean> }[]; configured: { name: string; type: string }[] }>(t).result;
    expect(kinds?.kinds.find((k) => k.type === 'aws-lambda')?.capabilities).toMatchObject({ plan: true, deploy: true, invoke: true });
    expect(kinds?.configured).toEqual([{ name: 'fn', type: 'aws-lambda', implicit: false }]);
    const human = await run(['targets'], dir, { human: true });
    expect(human.stdout).toMatch(/^aws-lambda .*invoke/m);
    const v = await run(['config', 'validate'], dir);
    expect(v.code, v.stderr).toBe(0);
    const s = await run(['config', 'schema'], dir, { human: true });
    expect(s.stdout).toContain('"aws-lambda"');
    expect(s.stdout).toContain('functionName');
  }, 60_000);
});
