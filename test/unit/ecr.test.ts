import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import { createEcrApi } from '../../src/registry/ecr/client.js';
import { ecrRepositoryProblem, parseEcrHost } from '../../src/registry/ecr/hosts.js';
import { EcrTokenCache, FALLBACK_LIFETIME_MS, RENEW_BEFORE_MS, renewAt } from '../../src/registry/ecr/registry.js';
import { ferryConfigSchema } from '../../src/config/schema.js';

describe('parseEcrHost', () => {
  it.each([
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com', { account: '123456789012', region: 'us-east-1', fips: false, dualStack: false }],
    ['123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com', { account: '123456789012', region: 'us-gov-west-1', fips: true, dualStack: false }],
    ['210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn', { account: '210987654321', region: 'cn-north-1', fips: false, dualStack: false }],
    ['123456789012.dkr-ecr.eu-central-2.on.aws', { account: '123456789012', region: 'eu-central-2', fips: false, dualStack: true }],
    ['123456789012.DKR.ECR.AP-SOUTHEAST-7.AMAZONAWS.COM', { account: '123456789012', region: 'ap-southeast-7', fips: false, dualStack: false }],
  ])('recognises %s', (host, want) => {
    expect(parseEcrHost(host)).toMatchObject(want);
  });

  it.each([
    'public.ecr.aws',
    '12345678901.dkr.ecr.us-east-1.amazonaws.com', // 11 digits
    '123456789012.dkr.ecr.us-east-1.amazonaws.com:443',
    '123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example',
    'x123456789012.dkr.ecr.us-east-1.amazonaws.com',
    '123456789012.dkr.ecr.cn-north-1.amazonaws.com', // China regions live under .com.cn
    '123456789012.dkr.ecr.us-east-1.amazonaws.com.cn',
    '123456789012.dkr.ecr.notaregion.amazonaws.com',
    'ghcr.io',
    '127.0.0.1:5000',
  ])('does not take %s for ECR', (host) => {
    expect(parseEcrHost(host)).toBeUndefined();
  });
});

describe('ecrRepositoryProblem', () => {
  it('accepts names by ECR rules, up to 256 characters', () => {
    for (const ok of ['ab', 'team/app', 'a.b_c-d/e', `t/${'a'.repeat(254)}`]) expect(ecrRepositoryProblem(ok), ok).toBeUndefined();
  });
  it('refuses names ECR refuses', () => {
    for (const bad of ['a', `t/${'a'.repeat(255)}`, 'Team/app', 'team//app', '/team', 'team/', 'team/-app', 'team/app-', 'te am', 'team/a..b']) {
      expect(ecrRepositoryProblem(bad), bad).toBeDefined();
    }
  });
});

describe('ECR token lifetime', () => {
  it('renews five minutes before a 12-hour token expires', () => {
    expect(renewAt(1_000, 1_000 + 12 * 3600_000)).toBe(1_000 + 12 * 3600_000 - RENEW_BEFORE_MS);
  });
  it('renews short-lived tokens at half their life', () => {
    expect(renewAt(0, 60_000)).toBe(30_000);
  });
  it('keeps a token with no or a past expiry for the fallback lifetime (moto answers 2015)', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(renewAt(now, undefined)).toBe(now + FALLBACK_LIFETIME_MS);
    expect(renewAt(now, Date.UTC(2015, 0, 1))).toBe(now + FALLBACK_LIFETIME_MS);
  });
});

describe('EcrTokenCache', () => {
  const tokenFor = (pw: string): string => Buffer.from(`AWS:${pw}`).toString('base64');
  let clock = 0;
  let served = 0;
  const make = (lifeMs: number): EcrTokenCache =>
    new EcrTokenCache(
      () => {
        served++;
        return Promise.resolve({ token: tokenFor(`pw-${served}`), expiresAt: clock + lifeMs });
      },
      () => clock,
    );
  beforeEach(() => {
    clock = 1_000_000;
    served = 0;
  });

  it('fetches once for concurrent callers, and keeps the token until it is due', async () => {
    const c = make(12 * 3600_000);
    const [a, b] = await Promise.all([c.get(), c.get()]);
    expect(a).toBe(b);
    expect(a.username).toBe('AWS');
    expect(a.password).toBe('pw-1');
    clock += 12 * 3600_000 - RENEW_BEFORE_MS - 1;
    expect((await c.get()).password).toBe('pw-1');
    clock += 1;
    expect((await c.get()).password).toBe('pw-2');
    expect(c.fetches).toBe(2);
  });

  it('fetches again after the registry refused the token, once for all who saw it refused', async () => {
    const c = make(12 * 3600_000);
    const first = await c.get();
    c.invalidate(first);
    const second = await c.get();
    expect(second.password).toBe('pw-2');
    c.invalidate(first); // a late 401 for the old token does not throw away the new one
    expect(await c.get()).toBe(second);
    expect(c.fetches).toBe(2);
  });

  it('refuses a token that is not base64 of user:password', async () => {
    const c = new EcrTokenCache(() => Promise.resolve({ token: Buffer.from('nocolon').toString('base64'), expiresAt: undefined }));
    await expect(c.get()).rejects.toMatchObject({ code: 'ECR_REQUEST_FAILED' });
  });
});

describe('registries.<host> ECR settings', () => {
  const parse = (registries: Record<string, unknown>): ReturnType<typeof ferryConfigSchema.safeParse> =>
    ferryConfigSchema.safeParse({ apiVersion: 'ferry/v1', image: { name: 'x/y' }, registries });
  it('takes ecr settings and an endpoint for an ECR host', () => {
    const r = parse({ '123456789012.dkr.ecr.us-east-1.amazonaws.com': { endpoint: 'http://127.0.0.1:5000', ecr: { scanOnPush: true } } });
    expect(r.success).toBe(true);
  });
  it('refuses ecr settings for another host, and an endpoint with a path', () => {
    expect(parse({ 'ghcr.io': { ecr: { scanOnPush: true } } }).success).toBe(false);
    expect(parse({ 'ghcr.io': { endpoint: 'http://127.0.0.1:5000/v2' } }).success).toBe(false);
    expect(parse({ 'ghcr.io': { endpoint: 'ftp://127.0.0.1' } }).success).toBe(false);
  });
});

/**
 * Faults the emulator cannot produce, against the real SDK client with nock at the HTTP layer.
 * nock rather than aws-sdk-client-mock: the mock replaces send() and so skips the SDK's retry
 * middleware, which is exactly what the throttling case must exercise.
 */
describe('the ECR API client (SDK behind nock)', () => {
  const ENDPOINT = 'http://ecr.ferry-test.invalid';
  const host = parseEcrHost('123456789012.dkr.ecr.us-east-1.amazonaws.com');
  const saved = { ...process.env };
  const awsReply = (type: string): [number, string, Record<string, string>] => [
    400,
    JSON.stringify({ __type: type, message: `${type} injected` }),
    { 'content-type': 'application/x-amz-json-1.1' },
  ];

  beforeEach(() => {
    nock.disableNetConnect();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: ENDPOINT,
      AWS_ACCESS_KEY_ID: 'AKIAFERRYUNITTEST001',
      AWS_SECRET_ACCESS_KEY: 'unit-test-secret',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_SESSION_TOKEN;
  });
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
    process.env = { ...saved };
  });

  it('retries a throttling burst on GetAuthorizationToken and answers the token', async () => {
    if (host === undefined) throw new Error('host');
    const token = Buffer.from('AWS:pw').toString('base64');
    const scope = nock(ENDPOINT)
      .post('/')
      .matchHeader('x-amz-target', /GetAuthorizationToken$/)
      .times(2)
      .reply(...awsReply('ThrottlingException'))
      .post('/')
      .matchHeader('x-amz-target', /GetAuthorizationToken$/)
      .reply(200, JSON.stringify({ authorizationData: [{ authorizationToken: token, expiresAt: 4102444800 }] }), {
        'content-type': 'application/x-amz-json-1.1',
      });
    const api = await createEcrApi(host);
    const t = await api.getAuthorizationToken();
    expect(t.token).toBe(token);
    expect(t.expiresAt).toBe(4102444800_000);
    expect(scope.isDone()).toBe(true);
  });

  it('throttling that outlasts the retries is ECR_THROTTLED (75), not a crash', async () => {
    if (host === undefined) throw new Error('host');
    process.env.AWS_MAX_ATTEMPTS = '2';
    nock(ENDPOINT).post('/').times(2).reply(...awsReply('ThrottlingException'));
    const api = await createEcrApi(host);
    const e = await api.getAuthorizationToken().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(FerryError);
    expect(e).toMatchObject({ code: 'ECR_THROTTLED', exitCode: 75 });
  });

  it('AccessDeniedException is ECR_ACCESS_DENIED (77)', async () => {
    if (host === undefined) throw new Error('host');
    nock(ENDPOINT).post('/').reply(...awsReply('AccessDeniedException'));
    const api = await createEcrApi(host);
    await expect(api.ensureRepository('team/app', { tagImmutability: false, scanOnPush: false })).rejects.toMatchObject({ code: 'ECR_ACCESS_DENIED', exitCode: 77 });
  });

  it('expired or unknown AWS credentials are ECR_CREDENTIALS_REJECTED (77)', async () => {
    if (host === undefined) throw new Error('host');
    nock(ENDPOINT).post('/').reply(...awsReply('UnrecognizedClientException'));
    const api = await createEcrApi(host);
    await expect(api.getAuthorizationToken()).rejects.toMatchObject({ code: 'ECR_CREDENTIALS_REJECTED', exitCode: 77 });
  });

  it('no credentials in the chain is ECR_CREDENTIALS_MISSING (78), with no request sent', async () => {
    if (host === undefined) throw new Error('host');
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    const scope = nock(ENDPOINT).post('/').reply(200, '{}');
    const api = await createEcrApi(host);
    await expect(api.getAuthorizationToken()).rejects.toMatchObject({ code: 'ECR_CREDENTIALS_MISSING', exitCode: 78 });
    expect(scope.isDone()).toBe(false);
  });

  it('creates a missing repository with the options, and takes a concurrent creation as success', async () => {
    if (host === undefined) throw new Error('host');
    let created: unknown;
    nock(ENDPOINT)
      .post('/')
      .matchHeader('x-amz-target', /DescribeRepositories$/)
      .reply(...awsReply('RepositoryNotFoundException'))
      .post('/', (body: unknown) => {
        created = body;
        return true;
      })
      .matchHeader('x-amz-target', /CreateRepository$/)
      .reply(200, JSON.stringify({ repository: { repositoryName: 'team/app' } }), { 'content-type': 'application/x-amz-json-1.1' });
    const api = await createEcrApi(host);
    expect(await api.ensureRepository('team/app', { tagImmutability: true, scanOnPush: true })).toBe('created');
    expect(created).toMatchObject({
      registryId: '123456789012',
      repositoryName: 'team/app',
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
    });
    nock(ENDPOINT)
      .post('/')
      .matchHeader('x-amz-target', /DescribeRepositories$/)
      .reply(...awsReply('RepositoryNotFoundException'))
      .post('/')
      .matchHeader('x-amz-target', /CreateRepository$/)
      .reply(...awsReply('RepositoryAlreadyExistsException'));
    expect(await api.ensureRepository('team/app', { tagImmutability: false, scanOnPush: false })).toBe('exists');
  });
});
