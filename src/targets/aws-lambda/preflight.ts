/**
 * What Lambda will refuse, checked before any AWS call, and the function configuration ferry
 * sends, as plain data (no SDK here). Lambda's own rules:
 * - the image must be in ECR, in the function's account and region;
 * - it must be a single-platform image manifest: an index (multi-platform, or an attestation
 *   index as `docker buildx` adds by default) is refused, which is why ferry pushes one manifest;
 * - at most 10 GB uncompressed; architecture x86_64 or arm64, which must be the image's own;
 * - memory 128 to 10,240 MB, timeout 1 to 900 s, /tmp 512 to 10,240 MB, environment 4 KB in all,
 *   and no variables Lambda reserves for itself.
 */
import { configError, type FerryError } from '../../core/errors.js';
import { parseDuration, parseMemory } from '../../core/quantities.js';
import { parseEcrHost } from '../../registry/ecr/hosts.js';
import type { LambdaTargetConfig } from './schema.js';

export const LAMBDA_MAX_IMAGE_BYTES = 10 * 1024 ** 3;
const MIB = 1024 * 1024;

/** A value Lambda would refuse: the key it comes from, why, and what to do. */
export class LambdaInputError extends Error {
  constructor(
    readonly code: string,
    readonly key: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }

  /**
   * As the coded error users see: every preflight failure is a configuration error (78), since
   * each is fixed in ferry.yaml or the build settings (image.name, image.platform, job, the target).
   */
  toFerryError(where: string, context: string): FerryError {
    return configError(this.code, `${this.message} (${context})`, { where, cause: this, details: { key: this.key }, suggestions: [this.hint] });
  }
}

/**
 * The function's account and region. The account is the execution role's: Lambda only accepts a
 * role of the function's own account, so the role ARN names it without an STS call. The region
 * is the one the SDK resolved (AWS_REGION, the profile), which is where ferry creates the function.
 */
export function placeOf(role: string, region: string): LambdaPlace {
  const account = /^arn:aws[a-z-]*:iam::(\d{12}):role\//.exec(role)?.[1] ?? '';
  return { account, region };
}

export interface LambdaImage {
  /** REGISTRY/REPO@sha256:… */
  ref: string;
  registry: string;
  manifestMediaType: string;
  /** os/arch[/variant] */
  platform: string;
  /** Uncompressed size of the layers when known, else their compressed size (a lower bound). */
  bytes: number;
  bytesAreUncompressed: boolean;
}

export interface LambdaJob {
  command?: string[] | undefined;
  args?: string[] | undefined;
  env: Record<string, string>;
  resources?: { cpu?: string | number | undefined; memory?: string | number | undefined; gpu?: number | undefined } | undefined;
  timeout?: string | undefined;
}

/** The function's account and region, where the image must be. */
export interface LambdaPlace {
  account: string;
  region: string;
}

/** Lambda sets these itself; a function cannot (docs: "Defined runtime environment variables"). */
const RESERVED_ENV = new Set([
  '_HANDLER', '_X_AMZN_TRACE_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE', 'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR',
]);

export function lambdaArchitecture(platform: string): 'x86_64' | 'arm64' {
  const [os, arch] = platform.split('/');
  if (os === 'linux' && arch === 'amd64') return 'x86_64';
  if (os === 'linux' && arch === 'arm64') return 'arm64';
  throw new LambdaInputError('LAMBDA_ARCHITECTURE_UNSUPPORTED', 'image.platform', `Lambda runs linux/amd64 (x86_64) or linux/arm64 images, not ${platform}`, 'build with --platform linux/amd64 or linux/arm64');
}

/** Everything Lambda checks about the image, here first. */
export function checkImage(image: LambdaImage, place: LambdaPlace): void {
  const ecr = parseEcrHost(image.registry);
  if (ecr === undefined) {
    throw new LambdaInputError('LAMBDA_IMAGE_NOT_IN_ECR', 'image.name', `Lambda pulls images only from Amazon ECR, not from ${image.registry}`, `set image.name to ${place.account}.dkr.ecr.${place.region}.amazonaws.com/REPOSITORY`);
  }
  if (ecr.account !== place.account || ecr.region !== place.region) {
    throw new LambdaInputError(
      'LAMBDA_IMAGE_NOT_IN_ECR',
      'image.name',
      `the image is in ECR ${ecr.account}/${ecr.region}, but the function is in ${place.account}/${place.region}; Lambda needs the function's own account and region`,
      `push to ${place.account}.dkr.ecr.${place.region}.amazonaws.com/REPOSITORY`,
    );
  }
  if (/index|manifest\.list/.test(image.manifestMediaType)) {
    throw new LambdaInputError('LAMBDA_IMAGE_IS_INDEX', 'image', `Lambda refuses an image index (${image.manifestMediaType}): it needs one image manifest`, 'push a single-platform image (ferry push does; with docker buildx use --provenance=false --sbom=false)');
  }
  lambdaArchitecture(image.platform);
  if (image.bytes > LAMBDA_MAX_IMAGE_BYTES) {
    throw new LambdaInputError(
      'LAMBDA_IMAGE_TOO_LARGE',
      'image',
      `the image is ${(image.bytes / 1024 ** 3).toFixed(1)} GiB${image.bytesAreUncompressed ? '' : ' compressed'}; Lambda takes at most 10 GiB uncompressed`,
      'make the image smaller (multi-stage builds, fewer dependencies), or run it on AWS Batch',
    );
  }
}

export interface FunctionConfiguration {
  FunctionName: string;
  PackageType: 'Image';
  Code: { ImageUri: string };
  Role: string;
  Architectures: ['x86_64' | 'arm64'];
  MemorySize: number;
  Timeout: number;
  EphemeralStorage: { Size: number };
  Environment: { Variables: Record<string, string> };
  ImageConfig?: { EntryPoint?: string[]; Command?: string[] };
  Tags: Record<string, string>;
}

/** CreateFunction's input (UpdateFunctionConfiguration/Code take the same values). */
export function functionConfiguration(target: string, config: LambdaTargetConfig, job: LambdaJob, image: LambdaImage): FunctionConfiguration {
  const memory = job.resources?.memory === undefined ? 512 * MIB : (parseMemory(job.resources.memory) ?? 0);
  const memoryMb = Math.ceil(memory / MIB);
  if (memoryMb < 128 || memoryMb > 10240) {
    throw new LambdaInputError('LAMBDA_BAD_VALUE', 'job.resources.memory', `Lambda functions have 128 to 10,240 MB of memory, not ${memoryMb}`, 'set job.resources.memory between 128Mi and 10Gi');
  }
  const timeoutS = job.timeout === undefined ? 900 : Math.ceil((parseDuration(job.timeout) ?? 0) / 1000);
  if (timeoutS < 1 || timeoutS > 900) {
    throw new LambdaInputError('LAMBDA_BAD_VALUE', 'job.timeout', `Lambda functions run for at most 900 s (15 min), not ${timeoutS} s`, 'set job.timeout to 15m or less, or run the job on AWS Batch');
  }
  if ((job.resources?.gpu ?? 0) > 0) {
    throw new LambdaInputError('LAMBDA_BAD_VALUE', 'job.resources.gpu', 'Lambda functions have no GPUs', 'remove job.resources.gpu, or run the job on AWS Batch (EC2) or Kubernetes');
  }
  const storage = config.ephemeralStorage === undefined ? 512 * MIB : (parseMemory(config.ephemeralStorage) ?? 0);
  const storageMb = Math.ceil(storage / MIB);
  if (storageMb < 512 || storageMb > 10240) {
    throw new LambdaInputError('LAMBDA_BAD_VALUE', `targets.${target}.ephemeralStorage`, `Lambda's /tmp is 512 to 10,240 MB, not ${storageMb}`, 'set ephemeralStorage between 512Mi and 10Gi');
  }
  const reserved = Object.keys(job.env).filter((k) => RESERVED_ENV.has(k));
  if (reserved.length > 0) {
    throw new LambdaInputError('LAMBDA_BAD_VALUE', 'job.env', `Lambda reserves ${reserved.join(', ')}; a function cannot set them`, 'rename those variables');
  }
  // Lambda counts the environment as its JSON text, 4 KB in all.
  const envBytes = Buffer.byteLength(JSON.stringify(job.env));
  if (envBytes > 4096) {
    throw new LambdaInputError('LAMBDA_BAD_VALUE', 'job.env', `the environment is ${envBytes} bytes; Lambda takes 4 KB in all`, 'move large values to SSM Parameter Store or Secrets Manager and read them at start');
  }
  const architecture = lambdaArchitecture(image.platform);
  if (config.architecture !== undefined && config.architecture !== architecture) {
    const platform = config.architecture === 'arm64' ? 'linux/arm64' : 'linux/amd64';
    throw new LambdaInputError(
      'LAMBDA_ARCHITECTURE_MISMATCH',
      `targets.${target}.architecture`,
      `the function is declared ${config.architecture}, but the image is ${image.platform} (${architecture}); Lambda would fail to start it`,
      `build for ${platform} (image.platform or --platform ${platform}), or remove architecture to take the image's`,
    );
  }
  const out: FunctionConfiguration = {
    FunctionName: config.functionName,
    PackageType: 'Image',
    Code: { ImageUri: image.ref },
    Role: config.role,
    Architectures: [architecture],
    MemorySize: memoryMb,
    Timeout: timeoutS,
    EphemeralStorage: { Size: storageMb },
    Environment: { Variables: { ...job.env } },
    Tags: { ...config.tags, 'ferry:target': target },
  };
  // job.command replaces the image's ENTRYPOINT and job.args its CMD, as ImageConfig does.
  if (job.command !== undefined || job.args !== undefined) {
    out.ImageConfig = {};
    if (job.command !== undefined) out.ImageConfig.EntryPoint = job.command;
    if (job.args !== undefined) out.ImageConfig.Command = job.args;
  }
  return out;
}
