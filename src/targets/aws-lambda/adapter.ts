/**
 * The AWS Lambda adapter: a container-image function, created or updated with the image pinned by
 * digest.
 *
 * - check (before the build and any AWS call): the values Lambda would refuse, and whether
 *   image.name is in ECR in the function's account (the role's) and region (the SDK's).
 * - plan (read only): the full preflight on the built image (single manifest, size, architecture),
 *   GetFunction, then CreateFunction, or UpdateFunctionCode and/or UpdateFunctionConfiguration for
 *   what differs (nothing when nothing does), then PublishVersion and CreateAlias/UpdateAlias.
 * - deploy: sends those, waiting with the SDK's waiters after each change (Lambda refuses the
 *   next update while one is in progress), and retries an update that meets another in progress
 *   (ResourceConflictException) after waiting for it.
 * - status: the function's State and LastUpdateStatus. invoke: one RequestResponse call with the
 *   log tail.
 */
import type { RunContext } from '../../core/context.js';
import { newRunId } from '../../core/run-id.js';
import { configError, FerryError, interruptedError } from '../../core/errors.js';
import { parseImageRef } from '../../core/image-ref.js';
import type { DeployInput, Handle, PinnedImage, Plan, PlannedRequest, RunStatus } from '../../core/target.js';
import type { InvokeResult, RemoteAdapter, RemoteTargetConfig } from '../index.js';
import type { FunctionState, LambdaApi, LambdaWhere, WaitOutcome } from './client.js';
import { codeUpdate, configurationUpdate, invokeResult, statusOf, type UpdateCodeInput, type UpdateConfigurationInput } from './payload.js';
import { checkImage, functionConfiguration, LambdaInputError, placeOf, type FunctionConfiguration, type LambdaImage } from './preflight.js';
import type { LambdaTargetConfig } from './schema.js';

type Input = DeployInput<RemoteTargetConfig>;

/** Attempts of one update in all when it meets another in progress (ResourceConflictException). */
export const CONFLICT_ATTEMPTS = 5;
/** Invoke attempts in all when Lambda throttles it (a throttled invocation did not run). */
const INVOKE_ATTEMPTS = 3;

/** Tests (and only tests) replace the API and the sleep. */
export interface LambdaDeps {
  api?: (where: LambdaWhere) => Promise<LambdaApi>;
  sleep?: (ms: number) => Promise<void>;
}
const deps: LambdaDeps = {};
export function setLambdaDeps(d: LambdaDeps): void {
  Object.assign(deps, d);
  apis.clear();
}

const apis = new Map<string, Promise<LambdaApi>>();
async function apiFor(where: LambdaWhere): Promise<LambdaApi> {
  const key = JSON.stringify(where);
  let api = apis.get(key);
  if (api === undefined) {
    api = deps.api !== undefined ? deps.api(where) : import('./client.js').then((m) => m.createLambdaApi(where));
    apis.set(key, api);
  }
  return api;
}

function lambdaConfig(input: Input): LambdaTargetConfig {
  if (input.config.type !== 'aws-lambda') throw new FerryError('INTERNAL', `the aws-lambda adapter got a ${input.config.type} target`);
  return input.config;
}

function whereOf(input: Input): LambdaWhere {
  return { file: input.file, target: input.target, functionName: lambdaConfig(input).functionName };
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function lambdaImage(image: PinnedImage): LambdaImage {
  const ref = parseImageRef(image.ref);
  return {
    ref: image.ref,
    registry: ref.registry,
    manifestMediaType: image.manifestMediaType ?? OCI_MANIFEST,
    platform: image.platform,
    bytes: image.size ?? 0,
    bytesAreUncompressed: false,
  };
}

/** A preflight failure as the coded error users see, at its key in ferry.yaml. */
function asConfigError(e: unknown, input: Input): unknown {
  if (!(e instanceof LambdaInputError)) return e;
  const at = input.locate?.(e.key.split('.'));
  return e.toFerryError(`${at ?? input.file} (${e.key})`, `target ${input.target}, type aws-lambda`);
}

/** The function ferry would create, after every check Lambda would make; `full` adds the image's manifest and size. */
async function preflight(input: Input, full: boolean): Promise<FunctionConfiguration> {
  const config = lambdaConfig(input);
  const api = await apiFor(whereOf(input));
  const region = await api.region();
  try {
    const image = lambdaImage(input.image);
    const desired = functionConfiguration(input.target, config, input.job, image);
    checkImage(full ? image : { ...image, manifestMediaType: OCI_MANIFEST, bytes: 0 }, placeOf(config.role, region));
    return desired;
  } catch (e) {
    throw asConfigError(e, input);
  }
}

const GET = 'GetFunction';
const CREATE = 'CreateFunction';
const CODE = 'UpdateFunctionCode';
const CONFIGURATION = 'UpdateFunctionConfiguration';
const PUBLISH = 'PublishVersion';
const CREATE_ALIAS = 'CreateAlias';
const UPDATE_ALIAS = 'UpdateAlias';
/** In a plan, the alias's version when PublishVersion of this deploy makes it. */
export const FROM_PUBLISH = '<version PublishVersion answers>';

/** Lambda cannot turn a .zip function into an image function: say so before any write. */
function refuseZip(existing: FunctionState, input: Input): void {
  const type = existing.configuration.PackageType;
  if (type === undefined || type === 'Image') return;
  const config = lambdaConfig(input);
  const key = ['targets', input.target, 'functionName'];
  throw configError('LAMBDA_FUNCTION_NOT_IMAGE', `the function ${config.functionName} exists with PackageType ${type}; Lambda cannot change a function's package type to Image`, {
    where: `${input.locate?.(key) ?? input.file} (${key.join('.')})`,
    details: { target: input.target, packageType: type },
    suggestions: ['pick another functionName for the image function, or delete the old one first (aws lambda delete-function)'],
  });
}

export const lambdaAdapter: RemoteAdapter = {
  type: 'aws-lambda',

  async check(input): Promise<void> {
    await preflight(input, false);
  },

  async plan(input, ctx): Promise<Plan> {
    const config = lambdaConfig(input);
    const desired = await preflight(input, true);
    const api = await apiFor(whereOf(input));
    const name = config.functionName;
    const requests: PlannedRequest[] = [{ service: 'lambda', action: GET, payload: { FunctionName: name } }];
    const notes: string[] = [];
    const existing = await api.getFunction(name);
    // The alias is read only when the function exists (a new function has none).
    let alias: { functionVersion: string } | undefined;
    if (existing !== undefined && config.alias !== undefined) {
      requests.push({ service: 'lambda', action: 'GetAlias', payload: { FunctionName: name, Name: config.alias } });
      alias = await api.getAlias(name, config.alias);
    }
    if (existing === undefined) {
      requests.push({ service: 'lambda', action: CREATE, payload: desired });
      notes.push(`creates function ${name} (${desired.Architectures[0]}, ${desired.MemorySize} MB, ${desired.Timeout} s), then waits until it is Active`);
    } else {
      refuseZip(existing, input);
      const code = codeUpdate(desired, existing.configuration, existing.imageUri);
      const settings = configurationUpdate(desired, existing.configuration);
      if (code !== undefined) requests.push({ service: 'lambda', action: CODE, payload: code });
      if (settings !== undefined) requests.push({ service: 'lambda', action: CONFIGURATION, payload: settings });
      if (code === undefined && settings === undefined) notes.push(`function ${name} already runs this image with these settings: nothing to update`);
      else notes.push(`updates function ${name} (${[code === undefined ? '' : 'code', settings === undefined ? '' : 'configuration'].filter((x) => x !== '').join(' and ')}), waiting after each update until it is Successful`);
      notes.push('tags are set when ferry creates the function; an existing function keeps its own');
    }
    if (config.publish) {
      requests.push({ service: 'lambda', action: PUBLISH, payload: { FunctionName: name } });
      notes.push('publishes a version (Lambda answers with the latest version when nothing changed since it was published)');
    }
    if (config.alias !== undefined) {
      requests.push({ service: 'lambda', action: alias === undefined ? CREATE_ALIAS : UPDATE_ALIAS, payload: { FunctionName: name, Name: config.alias, FunctionVersion: FROM_PUBLISH } });
      notes.push(alias === undefined ? `creates alias ${config.alias} on the published version` : `moves alias ${config.alias} (now version ${alias.functionVersion}) to the published version`);
    }
    ctx.reporter.debug(`aws-lambda plan: ${requests.map((r) => r.action).join(', ')}`);
    return { target: input.target, type: 'aws-lambda', image: input.image, requests, notes };
  },

  async deploy(plan, input, ctx): Promise<Handle> {
    const config = lambdaConfig(input);
    const api = await apiFor(whereOf(input));
    const name = config.functionName;
    const find = (action: string): PlannedRequest | undefined => plan.requests.find((r) => r.action === action);
    const create = find(CREATE);
    const code = find(CODE);
    const settings = find(CONFIGURATION);
    let arn = '';
    let action: string;
    let outcome: WaitOutcome = { ok: true };
    // Ctrl-C before the first write changes nothing; once the function is being changed, the
    // steps run to their end so it is not left half updated (a second Ctrl-C exits at once).
    if (ctx.signal?.aborted === true && (create !== undefined || code !== undefined || settings !== undefined)) {
      throw interruptedError(ctx.signal.reason, `changing function ${name}`);
    }
    if (create !== undefined) {
      const out = await api.createFunction(create.payload as FunctionConfiguration);
      arn = out.FunctionArn ?? '';
      ctx.reporter.info(`created function ${name}; waiting until it is Active`);
      outcome = await api.waitActive(name);
      action = 'created';
    } else {
      action = 'unchanged';
      if (code !== undefined) {
        const codeInput = code.payload as UpdateCodeInput;
        const out = await withConflictRetry(api, name, `UpdateFunctionCode ${name}`, () => api.updateFunctionCode(codeInput), ctx);
        arn = out.FunctionArn ?? arn;
        ctx.reporter.info(`updated the code of ${name} to ${codeInput.ImageUri}; waiting for the update`);
        outcome = await api.waitUpdated(name);
        action = 'updated';
      }
      if (settings !== undefined && outcome.ok) {
        const out = await withConflictRetry(api, name, `UpdateFunctionConfiguration ${name}`, () => api.updateFunctionConfiguration(settings.payload as UpdateConfigurationInput), ctx);
        arn = out.FunctionArn ?? arn;
        ctx.reporter.info(`updated the configuration of ${name}; waiting for the update`);
        outcome = await api.waitUpdated(name);
        action = 'updated';
      }
      if (action === 'unchanged') ctx.reporter.info(`function ${name} already runs ${input.image.ref} with these settings: nothing to update`);
    }
    const ref: Record<string, string> = { functionName: name, action, version: '$LATEST' };
    if (outcome.ok && find(PUBLISH) !== undefined) {
      const published = await withConflictRetry(api, name, `PublishVersion ${name}`, () => api.publishVersion(name), ctx);
      ref['version'] = published.version;
      arn = published.arn === '' ? arn : published.arn.replace(/:[^:]+$/, '');
      ctx.reporter.info(`published version ${published.version} of ${name}`);
      const alias = find(CREATE_ALIAS) ?? find(UPDATE_ALIAS);
      if (alias !== undefined && config.alias !== undefined) {
        const out =
          alias.action === CREATE_ALIAS
            ? await api.createAlias(name, config.alias, published.version)
            : await api.updateAlias(name, config.alias, published.version);
        ref['alias'] = config.alias;
        if (out.aliasArn !== '') ref['aliasArn'] = out.aliasArn;
        ctx.reporter.info(`alias ${config.alias} of ${name} → version ${published.version}`);
      }
    }
    if (arn !== '') ref['functionArn'] = arn;
    const region = await api.region().catch(() => undefined);
    if (region !== undefined) ref['region'] = region;
    if (!outcome.ok) ref['failure'] = `${outcome.state ?? ''}: ${outcome.reason ?? ''}`;
    return {
      // One id per deploy (the function's ARN stays in ref): the handle store names files by it.
      id: newRunId(),
      target: input.target,
      type: 'aws-lambda',
      image: input.image.ref,
      createdAt: new Date().toISOString(),
      ref,
    };
  },

  async status(h, _ctx): Promise<RunStatus> {
    const name = h.ref['functionName'] ?? '';
    const api = await apiFor({ file: 'ferry.yaml', target: h.target, functionName: name, region: h.ref['region'] });
    const fn = await api.getFunction(name);
    if (fn === undefined) return { state: 'failed', reason: `the function ${name} no longer exists` };
    return statusOf(fn.configuration);
  },

  async invoke(h, payload, ctx): Promise<InvokeResult> {
    const name = h.ref['functionName'] ?? '';
    const api = await apiFor({ file: 'ferry.yaml', target: h.target, functionName: name, region: h.ref['region'] });
    // The alias, else the version this deploy published, else $LATEST: what was just deployed.
    const version = h.ref['version'];
    const qualifier = h.ref['alias'] ?? (version === undefined || version === '$LATEST' ? undefined : version);
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (let attempt = 1; ; attempt++) {
      try {
        ctx.reporter.info(`invoking ${name}${qualifier === undefined ? '' : `:${qualifier}`}`);
        return invokeResult(await api.invoke(name, qualifier, payload));
      } catch (e) {
        // A throttled invocation did not run, so trying again cannot run it twice.
        if (!(e instanceof FerryError) || e.code !== 'LAMBDA_THROTTLED' || attempt >= INVOKE_ATTEMPTS) throw e;
        ctx.reporter.warn(`Invoke ${name}: throttled; trying again`);
        await sleep(1000 * 2 ** (attempt - 1));
      }
    }
  },
};

/**
 * Lambda refuses an update while another is in progress (ResourceConflictException: "The
 * operation cannot be performed at this time. An update is in progress"), whoever started it. So
 * on a conflict ferry waits for that update with the SDK's waiter, then tries again, a bounded
 * number of times.
 */
export async function withConflictRetry<T>(api: LambdaApi, name: string, what: string, op: () => Promise<T>, ctx: RunContext): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (!(e instanceof FerryError) || e.code !== 'LAMBDA_UPDATE_CONFLICT' || attempt >= CONFLICT_ATTEMPTS) throw e;
      ctx.reporter.warn(`${what}: another update of ${name} is in progress; waiting for it, then trying again`);
      await api.waitUpdated(name);
    }
  }
}
