import { beforeEach, describe, expect, it } from 'vitest';
import { collectingReporter, type RunContext } from '../../src/core/context.js';
import { FerryError } from '../../src/core/errors.js';
import type { DeployInput, PinnedImage } from '../../src/core/target.js';
import { CONFLICT_ATTEMPTS, lambdaAdapter, setLambdaDeps, withConflictRetry } from '../../src/targets/aws-lambda/adapter.js';
import type { FunctionState, LambdaApi } from '../../src/targets/aws-lambda/client.js';
import { codeUpdate, configurationUpdate, invokeResult, statusOf, type FunctionSettings } from '../../src/targets/aws-lambda/payload.js';
import { functionConfiguration, type FunctionConfiguration } from '../../src/targets/aws-lambda/preflight.js';
import { lambdaTargetSchema } from '../../src/targets/aws-lambda/schema.js';
import type { RemoteTargetConfig } from '../../src/targets/index.js';

const HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const IMAGE = `${HOST}/team/fn@sha256:${'a'.repeat(64)}`;
const ROLE = 'arn:aws:iam::123456789012:role/lambda-exec';

function pinned(over: Partial<PinnedImage> = {}): PinnedImage {
  return { ref: IMAGE, digest: `sha256:${'a'.repeat(64)}`, configDigest: `sha256:${'b'.repeat(64)}`, platform: 'linux/amd64', manifestMediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1000, ...over };
}

function input(target: Record<string, unknown> = {}, image: Partial<PinnedImage> = {}): DeployInput<RemoteTargetConfig> {
  return {
    target: 'prod',
    config: lambdaTargetSchema.parse({ type: 'aws-lambda', functionName: 'taxi', role: ROLE, ...target }),
    image: pinned(image),
    job: { env: { LEVEL: 'info' } },
    file: '/p/ferry.yaml',
    locate: (k) => `/p/ferry.yaml:9:3 ${k.join('.')}`,
  };
}

const ctx = (): RunContext & { reporter: ReturnType<typeof collectingReporter> } => ({ reporter: collectingReporter(), env: {}, cwd: '/' });

function desiredFor(i: DeployInput<RemoteTargetConfig>): FunctionConfiguration {
  if (i.config.type !== 'aws-lambda') throw new Error('not lambda');
  return functionConfiguration(i.target, i.config, i.job, { ref: i.image.ref, registry: HOST, manifestMediaType: '', platform: i.image.platform, bytes: 0, bytesAreUncompressed: false });
}

/** The settings GetFunction would answer for a function deployed with `d`. */
function existingFrom(d: FunctionConfiguration, over: Partial<FunctionSettings> = {}): FunctionState {
  return {
    configuration: {
      FunctionName: d.FunctionName,
      FunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${d.FunctionName}`,
      PackageType: 'Image',
      Role: d.Role,
      MemorySize: d.MemorySize,
      Timeout: d.Timeout,
      EphemeralStorage: { Size: d.EphemeralStorage.Size },
      Environment: { Variables: { ...d.Environment.Variables } },
      Architectures: [...d.Architectures],
      // moto (and Lambda) answer empty lists when nothing overrides the image's ENTRYPOINT/CMD.
      ImageConfigResponse: { ImageConfig: { EntryPoint: [], Command: [] } },
      State: 'Active',
      LastUpdateStatus: 'Successful',
      ...over,
    },
    imageUri: d.Code.ImageUri,
  };
}

/** A Lambda API in memory that records calls; `conflicts` makes that many updates fail as in progress. */
function fakeApi(opts: { existing?: FunctionState; conflicts?: number; waitActive?: { ok: boolean; state?: string; reason?: string }; throttles?: number } = {}) {
  const calls: string[] = [];
  let conflicts = opts.conflicts ?? 0;
  let throttles = opts.throttles ?? 0;
  const fn = opts.existing;
  const conflict = (what: string): void => {
    if (conflicts > 0) {
      conflicts--;
      throw new FerryError('LAMBDA_UPDATE_CONFLICT', `${what}: An update is in progress`, { exitCode: 75 });
    }
  };
  const arn = 'arn:aws:lambda:us-east-1:123456789012:function:taxi';
  const api: LambdaApi = {
    region: () => Promise.resolve('us-east-1'),
    getFunction: () => {
      calls.push('GetFunction');
      return Promise.resolve(fn);
    },
    createFunction: () => {
      calls.push('CreateFunction');
      return Promise.resolve({ FunctionArn: arn, State: 'Pending' });
    },
    updateFunctionCode: async () => {
      await Promise.resolve();
      calls.push('UpdateFunctionCode');
      conflict('UpdateFunctionCode');
      return { FunctionArn: arn };
    },
    updateFunctionConfiguration: async () => {
      await Promise.resolve();
      calls.push('UpdateFunctionConfiguration');
      conflict('UpdateFunctionConfiguration');
      return { FunctionArn: arn };
    },
    waitActive: () => {
      calls.push('waitActive');
      return Promise.resolve(opts.waitActive ?? { ok: true });
    },
    waitUpdated: () => {
      calls.push('waitUpdated');
      return Promise.resolve({ ok: true });
    },
    publishVersion: async () => {
      await Promise.resolve();
      calls.push('PublishVersion');
      conflict('PublishVersion');
      return { version: '3', arn: `${arn}:3` };
    },
    getAlias: () => {
      calls.push('GetAlias');
      return Promise.resolve(undefined);
    },
    createAlias: () => {
      calls.push('CreateAlias');
      return Promise.resolve({ aliasArn: `${arn}:live` });
    },
    updateAlias: () => {
      calls.push('UpdateAlias');
      return Promise.resolve({ aliasArn: `${arn}:live` });
    },
    invoke: async (_n, qualifier, payload) => {
      await Promise.resolve();
      calls.push(`Invoke ${qualifier ?? '$LATEST'}`);
      if (throttles > 0) {
        throttles--;
        throw new FerryError('LAMBDA_THROTTLED', 'throttled', { exitCode: 75 });
      }
      return { statusCode: 200, payload: payload ?? new Uint8Array(), logResult: Buffer.from('START\nhello\nEND\n').toString('base64'), executedVersion: qualifier ?? '$LATEST' };
    },
  };
  return { api, calls };
}

beforeEach(() => {
  setLambdaDeps({ sleep: () => Promise.resolve() });
});

describe('what a deploy sends to a function that exists', () => {
  const d = desiredFor(input());

  it('nothing when the image, architecture and settings are the same', () => {
    const e = existingFrom(d);
    expect(codeUpdate(d, e.configuration, e.imageUri)).toBeUndefined();
    expect(configurationUpdate(d, e.configuration)).toBeUndefined();
  });

  it('UpdateFunctionCode (with the architecture) for a new digest or another architecture, and nothing else', () => {
    const e = existingFrom(d);
    expect(codeUpdate(d, e.configuration, `${HOST}/team/fn@sha256:${'c'.repeat(64)}`)).toEqual({ FunctionName: 'taxi', ImageUri: IMAGE, Architectures: ['x86_64'] });
    expect(codeUpdate(d, { ...e.configuration, Architectures: ['arm64'] }, e.imageUri)).toEqual({ FunctionName: 'taxi', ImageUri: IMAGE, Architectures: ['x86_64'] });
    expect(configurationUpdate(d, e.configuration)).toBeUndefined();
  });

  it('UpdateFunctionConfiguration with every managed setting when one differs; ImageConfig {} clears old overrides', () => {
    const e = existingFrom(d, { MemorySize: 128, ImageConfigResponse: { ImageConfig: { EntryPoint: ['/old'] } } });
    expect(configurationUpdate(d, e.configuration)).toEqual({
      FunctionName: 'taxi',
      Role: ROLE,
      MemorySize: 512,
      Timeout: 900,
      EphemeralStorage: { Size: 512 },
      Environment: { Variables: { LEVEL: 'info' } },
      ImageConfig: {},
    });
    expect(configurationUpdate(d, existingFrom(d, { Environment: { Variables: { LEVEL: 'info', OLD: '1' } } }).configuration)).toBeDefined();
    expect(configurationUpdate(d, existingFrom(d, { Environment: undefined }).configuration)).toBeDefined();
  });

  it("reads the function's state as a run state", () => {
    expect(statusOf({ State: 'Active', LastUpdateStatus: 'Successful' })).toMatchObject({ state: 'succeeded' });
    expect(statusOf({ State: 'Pending' })).toMatchObject({ state: 'running', phase: 'Pending' });
    expect(statusOf({ State: 'Active', LastUpdateStatus: 'InProgress' })).toMatchObject({ state: 'running' });
    expect(statusOf({ State: 'Failed', StateReason: 'image not found' })).toEqual({ state: 'failed', phase: 'Failed', reason: 'image not found' });
    expect(statusOf({ State: 'Active', LastUpdateStatus: 'Failed', LastUpdateStatusReason: 'bad role' })).toMatchObject({ state: 'failed', reason: 'bad role' });
    expect(statusOf({ State: 'Inactive' })).toMatchObject({ state: 'succeeded' });
  });

  it('decodes the base64 log tail of an invocation', () => {
    const r = invokeResult({ statusCode: 200, functionError: 'Unhandled', payload: Buffer.from('{"errorMessage":"x"}'), logResult: Buffer.from('line 1\nline 2\n').toString('base64') });
    expect(r).toEqual({ statusCode: 200, functionError: 'Unhandled', response: '{"errorMessage":"x"}', logTail: 'line 1\nline 2\n' });
    expect(invokeResult({ statusCode: 200, functionError: '', payload: new Uint8Array() }).functionError).toBeUndefined();
  });
});

describe('aws-lambda adapter', () => {
  it('plans GetFunction then CreateFunction for a new function, and creates it waiting until Active', async () => {
    const f = fakeApi();
    setLambdaDeps({ api: () => Promise.resolve(f.api) });
    const i = input({ publish: true, alias: 'live' });
    const plan = await lambdaAdapter.plan(i, ctx());
    expect(plan.requests.map((r) => r.action)).toEqual(['GetFunction', 'CreateFunction', 'PublishVersion', 'CreateAlias']);
    expect(plan.requests[1]?.payload).toMatchObject({ PackageType: 'Image', Code: { ImageUri: IMAGE }, Architectures: ['x86_64'] });
    expect(f.calls).toEqual(['GetFunction']);
    const h = await lambdaAdapter.deploy(plan, i, ctx());
    expect(f.calls).toEqual(['GetFunction', 'CreateFunction', 'waitActive', 'PublishVersion', 'CreateAlias']);
    expect(h.ref).toMatchObject({ functionName: 'taxi', action: 'created', version: '3', alias: 'live' });
    const out = await lambdaAdapter.invoke?.(h, new TextEncoder().encode('{}'), ctx());
    expect(f.calls.at(-1)).toBe('Invoke live');
    expect(out).toMatchObject({ response: '{}', logTail: 'START\nhello\nEND\n' });
  });

  it('plans nothing to update for an identical function', async () => {
    const i = input();
    const f = fakeApi({ existing: existingFrom(desiredFor(i)) });
    setLambdaDeps({ api: () => Promise.resolve(f.api) });
    const plan = await lambdaAdapter.plan(i, ctx());
    expect(plan.requests.map((r) => r.action)).toEqual(['GetFunction']);
    expect(plan.notes.join('\n')).toContain('nothing to update');
    const h = await lambdaAdapter.deploy(plan, i, ctx());
    expect(h.ref['action']).toBe('unchanged');
    expect(f.calls).toEqual(['GetFunction']);
  });

  it('an update that meets another in progress waits for it (the waiter), then succeeds on the retry', async () => {
    const i = input();
    const f = fakeApi({ existing: existingFrom(desiredFor(i), { MemorySize: 128 }), conflicts: 1 });
    f.api.getFunction = () => Promise.resolve({ ...existingFrom(desiredFor(i), { MemorySize: 128 }), imageUri: 'old' });
    setLambdaDeps({ api: () => Promise.resolve(f.api) });
    const c = ctx();
    const plan = await lambdaAdapter.plan(i, c);
    expect(plan.requests.map((r) => r.action)).toEqual(['GetFunction', 'UpdateFunctionCode', 'UpdateFunctionConfiguration']);
    const h = await lambdaAdapter.deploy(plan, i, c);
    expect(f.calls).toEqual(['UpdateFunctionCode', 'waitUpdated', 'UpdateFunctionCode', 'waitUpdated', 'UpdateFunctionConfiguration', 'waitUpdated']);
    expect(h.ref['action']).toBe('updated');
    expect(c.reporter.warnings.join('\n')).toContain('in progress');
  });

  it('gives up after a bounded number of conflicts with LAMBDA_UPDATE_CONFLICT, waiting before each retry', async () => {
    const f = fakeApi({ conflicts: 99 });
    let err: unknown;
    try {
      await withConflictRetry(f.api, 'taxi', 'PublishVersion taxi', () => f.api.publishVersion('taxi'), ctx());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('LAMBDA_UPDATE_CONFLICT');
    expect(f.calls.filter((x) => x === 'PublishVersion')).toHaveLength(CONFLICT_ATTEMPTS);
    expect(f.calls.filter((x) => x === 'waitUpdated')).toHaveLength(CONFLICT_ATTEMPTS - 1);
    // Other errors are not retried.
    const g = fakeApi();
    g.api.publishVersion = () => Promise.reject(new FerryError('LAMBDA_ACCESS_DENIED', 'denied', { exitCode: 77 }));
    await expect(withConflictRetry(g.api, 'taxi', 'x', () => g.api.publishVersion('taxi'), ctx())).rejects.toMatchObject({ code: 'LAMBDA_ACCESS_DENIED' });
  });

  it('a function that ends Failed is a failed run with Lambda reason, not an error', async () => {
    const f = fakeApi({ waitActive: { ok: false, state: 'Failed', reason: 'image manifest not found' } });
    setLambdaDeps({ api: () => Promise.resolve(f.api) });
    const i = input({ publish: true });
    const h = await lambdaAdapter.deploy(await lambdaAdapter.plan(i, ctx()), i, ctx());
    expect(f.calls).not.toContain('PublishVersion');
    expect(h.ref['failure']).toContain('image manifest not found');
    f.api.getFunction = () => Promise.resolve({ configuration: { State: 'Failed', StateReason: 'image manifest not found' } });
    expect(await lambdaAdapter.status(h, ctx())).toMatchObject({ state: 'failed', reason: 'image manifest not found' });
  });

  it('refuses an image index, and a .zip function, with coded errors at their key; no write call', async () => {
    const f = fakeApi();
    setLambdaDeps({ api: () => Promise.resolve(f.api) });
    const index = lambdaAdapter.plan(input({}, { manifestMediaType: 'application/vnd.oci.image.index.v1+json' }), ctx());
    await expect(index).rejects.toMatchObject({ code: 'LAMBDA_IMAGE_IS_INDEX', exitCode: 78, where: '/p/ferry.yaml:9:3 image (image)' });
    const big = lambdaAdapter.plan(input({}, { size: 11 * 1024 ** 3 }), ctx());
    await expect(big).rejects.toMatchObject({ code: 'LAMBDA_IMAGE_TOO_LARGE' });
    expect(f.calls).toEqual([]);
    const zip = fakeApi({ existing: { configuration: { PackageType: 'Zip' } } });
    setLambdaDeps({ api: () => Promise.resolve(zip.api) });
    await expect(lambdaAdapter.plan(input(), ctx())).rejects.toMatchObject({ code: 'LAMBDA_FUNCTION_NOT_IMAGE', where: '/p/ferry.yaml:9:3 targets.prod.functionName (targets.prod.functionName)' });
    expect(zip.calls).toEqual(['GetFunction']);
  });

  it('check() finds what Lambda would refuse before the build: another region, an architecture mismatch', async () => {
    const f = fakeApi();
    f.api.region = () => Promise.resolve('eu-west-1');
    setLambdaDeps({ api: () => Promise.resolve(f.api) });
    await expect(lambdaAdapter.check?.(input())).rejects.toMatchObject({ code: 'LAMBDA_IMAGE_NOT_IN_ECR', where: expect.stringContaining('(image.name)') as unknown });
    f.api.region = () => Promise.resolve('us-east-1');
    await expect(lambdaAdapter.check?.(input({ architecture: 'arm64' }))).rejects.toMatchObject({ code: 'LAMBDA_ARCHITECTURE_MISMATCH' });
    await expect(lambdaAdapter.check?.(input())).resolves.toBeUndefined();
    expect(f.calls).toEqual([]);
  });

  it('invoke tries again when throttled (the invocation did not run), at most three times', async () => {
    const f = fakeApi({ throttles: 2 });
    setLambdaDeps({ api: () => Promise.resolve(f.api) });
    const h = { id: 'x', target: 'prod', type: 'aws-lambda', image: IMAGE, createdAt: '', ref: { functionName: 'taxi', version: '$LATEST' } };
    await expect(lambdaAdapter.invoke?.(h, undefined, ctx())).resolves.toMatchObject({ statusCode: 200 });
    expect(f.calls).toEqual(['Invoke $LATEST', 'Invoke $LATEST', 'Invoke $LATEST']);
    const g = fakeApi({ throttles: 3 });
    setLambdaDeps({ api: () => Promise.resolve(g.api) });
    await expect(lambdaAdapter.invoke?.(h, undefined, ctx())).rejects.toMatchObject({ code: 'LAMBDA_THROTTLED' });
  });
});
