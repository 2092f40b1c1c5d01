import { describe, expect, it } from 'vitest';
import { lambdaTargetSchema } from '../../src/targets/aws-lambda/schema.js';
import { checkImage, functionConfiguration, LambdaInputError, lambdaArchitecture, type LambdaImage } from '../../src/targets/aws-lambda/preflight.js';

const place = { account: '123456789012', region: 'us-east-1' };
const image = (over: Partial<LambdaImage> = {}): LambdaImage => ({
  ref: `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/fn@sha256:${'b'.repeat(64)}`,
  registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
  manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
  platform: 'linux/arm64',
  bytes: 200 * 1024 * 1024,
  bytesAreUncompressed: true,
  ...over,
});
const config = lambdaTargetSchema.parse({ type: 'aws-lambda', functionName: 'taxi-ingest', role: 'arn:aws:iam::123456789012:role/lambda-exec' });

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof LambdaInputError) return `${e.code} ${e.key}`;
    throw e;
  }
  return 'no error';
}

describe('Lambda preflight: what Lambda would refuse, before any AWS call', () => {
  it('accepts a single-platform ECR image in the function\'s account and region', () => {
    expect(code(() => { checkImage(image(), place); })).toBe('no error');
  });

  it('refuses an image outside ECR, or in another account or region', () => {
    expect(code(() => { checkImage(image({ registry: 'ghcr.io' }), place); })).toBe('LAMBDA_IMAGE_NOT_IN_ECR image.name');
    expect(code(() => { checkImage(image({ registry: '210987654321.dkr.ecr.us-east-1.amazonaws.com' }), place); })).toBe('LAMBDA_IMAGE_NOT_IN_ECR image.name');
    expect(code(() => { checkImage(image({ registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com' }), place); })).toBe('LAMBDA_IMAGE_NOT_IN_ECR image.name');
  });

  it('refuses an index (multi-platform or attestations), a foreign architecture, and more than 10 GiB', () => {
    expect(code(() => { checkImage(image({ manifestMediaType: 'application/vnd.oci.image.index.v1+json' }), place); })).toBe('LAMBDA_IMAGE_IS_INDEX image');
    expect(code(() => { checkImage(image({ manifestMediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' }), place); })).toBe('LAMBDA_IMAGE_IS_INDEX image');
    expect(code(() => { checkImage(image({ platform: 'linux/arm/v7' }), place); })).toBe('LAMBDA_ARCHITECTURE_UNSUPPORTED image.platform');
    expect(code(() => { checkImage(image({ bytes: 11 * 1024 ** 3 }), place); })).toBe('LAMBDA_IMAGE_TOO_LARGE image');
    expect(lambdaArchitecture('linux/amd64')).toBe('x86_64');
  });
});

describe('the function configuration ferry sends', () => {
  it('pins the image, takes the architecture from it, memory and timeout from job, command/args as ImageConfig', () => {
    const f = functionConfiguration('prod', config, { env: { LEVEL: 'info' }, command: ['python', '-m', 'awslambdaric'], args: ['app.handler'], resources: { memory: '1Gi' }, timeout: '5m' }, image());
    expect(f).toMatchObject({
      FunctionName: 'taxi-ingest',
      PackageType: 'Image',
      Code: { ImageUri: image().ref },
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 300,
      EphemeralStorage: { Size: 512 },
      Environment: { Variables: { LEVEL: 'info' } },
      ImageConfig: { EntryPoint: ['python', '-m', 'awslambdaric'], Command: ['app.handler'] },
      Tags: { 'ferry:target': 'prod' },
    });
  });

  it('defaults to 512 MB and 900 s, with no ImageConfig when the image\'s own ENTRYPOINT and CMD stand', () => {
    const f = functionConfiguration('prod', config, { env: {} }, image());
    expect(f.MemorySize).toBe(512);
    expect(f.Timeout).toBe(900);
    expect(f.ImageConfig).toBeUndefined();
  });

  it('refuses memory, timeout and /tmp outside Lambda\'s limits, reserved and oversized environments', () => {
    expect(code(() => functionConfiguration('p', config, { env: {}, resources: { memory: '64Mi' } }, image()))).toBe('LAMBDA_BAD_VALUE job.resources.memory');
    expect(code(() => functionConfiguration('p', config, { env: {}, resources: { memory: '12Gi' } }, image()))).toBe('LAMBDA_BAD_VALUE job.resources.memory');
    expect(code(() => functionConfiguration('p', config, { env: {}, timeout: '20m' }, image()))).toBe('LAMBDA_BAD_VALUE job.timeout');
    expect(code(() => functionConfiguration('p', config, { env: {}, resources: { gpu: 1 } }, image()))).toBe('LAMBDA_BAD_VALUE job.resources.gpu');
    const big = lambdaTargetSchema.parse({ ...config, ephemeralStorage: '20Gi' });
    expect(code(() => functionConfiguration('p', big, { env: {} }, image()))).toBe('LAMBDA_BAD_VALUE targets.p.ephemeralStorage');
    expect(code(() => functionConfiguration('p', config, { env: { AWS_REGION: 'x' } }, image()))).toBe('LAMBDA_BAD_VALUE job.env');
    expect(code(() => functionConfiguration('p', config, { env: { BIG: 'x'.repeat(5000) } }, image()))).toBe('LAMBDA_BAD_VALUE job.env');
  });

  it('the target schema checks the function name, role and alias before any call', () => {
    expect(lambdaTargetSchema.safeParse({ type: 'aws-lambda', functionName: 'x'.repeat(65), role: config.role }).success).toBe(false);
    expect(lambdaTargetSchema.safeParse({ type: 'aws-lambda', functionName: 'fn', role: 'lambda-exec' }).success).toBe(false);
    expect(lambdaTargetSchema.safeParse({ type: 'aws-lambda', functionName: 'fn', role: config.role, alias: 'live' }).success).toBe(false);
    expect(lambdaTargetSchema.safeParse({ type: 'aws-lambda', functionName: 'fn', role: config.role, alias: 'live', publish: true }).success).toBe(true);
  });
});
