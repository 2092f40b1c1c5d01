/**
 * `ferry plan` and `ferry deploy` on a target other than local: the image is built (plan) or built
 * and pushed (deploy), since a remote platform pulls it from a registry, pinned by digest; then the
 * target's adapter plans and deploys, and ferry waits for the run, reporting each change of state
 * on stderr, and answers with the run's exit code.
 */
import type { Writable } from 'node:stream';
import type { RunContext } from '../core/context.js';
import { configError } from '../core/errors.js';
import type { DeployInput, Handle, PinnedImage, Plan, RunState, RunStatus } from '../core/target.js';
import type { LoadedConfig } from '../config/loader.js';
import { loadRemoteAdapter, type InvokeResult, type RemoteAdapter, type RemoteTargetConfig } from '../targets/index.js';
import type { BuildOptions } from './build.js';
import type { InvokeOptions } from './invoke.js';

export interface RemoteDeployResult {
  target: string;
  type: string;
  /** The pinned reference the platform ran. */
  image: string;
  digest: string;
  /** What `status`, `logs` and `cancel` will read; `ref` has the platform's ids (jobId, …). */
  handle: Handle;
  state: RunState;
  /** The run's exit code, which ferry exits with (1 when the platform gives none for a failure). */
  exitCode: number;
  reason?: string;
  children?: RunStatus['children'];
  /** `deploy --invoke`: the invocation's answer (a FunctionError makes the deploy fail). */
  invoke?: InvokeResult;
}

export interface WaitOptions {
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal | undefined;
  /** First poll interval, doubled by half each poll up to maxMs. */
  firstMs?: number;
  maxMs?: number;
  onChange?: (s: RunStatus) => void;
}

const TERMINAL: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];

/** Polls `status` with backoff until the run ends; reports each change of state or phase. */
export async function waitForRun(status: () => Promise<RunStatus>, opts: WaitOptions = {}): Promise<RunStatus> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const max = opts.maxMs ?? 15_000;
  let delay = opts.firstMs ?? 1000;
  let last = '';
  for (;;) {
    const s = await status();
    const key = `${s.state}/${s.phase ?? ''}/${JSON.stringify(s.children ?? {})}`;
    if (key !== last) opts.onChange?.(s);
    last = key;
    if (TERMINAL.includes(s.state)) return s;
    if (opts.signal?.aborted === true) return s;
    await sleep(delay);
    delay = Math.min(max, Math.ceil(delay * 1.5));
  }
}

function requireImageName(loaded: LoadedConfig, opts: BuildOptions, target: string, type: string): void {
  if ((opts.imageName ?? loaded.config.image.name) !== undefined) return;
  throw configError('CONFIG_MISSING_IMAGE_NAME', `target ${target} (type ${type}) pulls the image from a registry, but image.name is not set`, {
    where: `${loaded.file} (image.name)`,
    suggestions: ['set image.name in ferry.yaml to a registry the platform can pull from (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app), or pass --image NAME'],
  });
}

function inputFor(loaded: LoadedConfig, name: string, target: RemoteTargetConfig, image: PinnedImage, entrypoint: string[] | undefined, args: string[] | undefined): DeployInput<RemoteTargetConfig> {
  const job = loaded.config.job;
  return {
    target: name,
    config: target,
    image,
    imageEntrypoint: entrypoint,
    job: { ...job, ...(args !== undefined && args.length > 0 ? { args } : {}) },
    file: loaded.file,
    locate: loaded.locate === undefined ? undefined : (k) => loaded.locate?.(k),
  };
}

export interface RemoteOptions extends BuildOptions, InvokeOptions {
  args?: string[] | undefined;
  /** Where an invocation's response goes (ferry's stdout, or stderr under --json). */
  stdout?: Writable | undefined;
}

/** Before the build: the target's own checks, on a placeholder digest (so a bad value costs no build or AWS call). */
async function precheck(adapter: RemoteAdapter, loaded: LoadedConfig, name: string, target: RemoteTargetConfig, opts: RemoteOptions): Promise<void> {
  const ref = `${opts.imageName ?? loaded.config.image.name ?? 'image'}@sha256:${'0'.repeat(64)}`;
  await adapter.check?.(inputFor(loaded, name, target, { ref, digest: `sha256:${'0'.repeat(64)}`, configDigest: '', platform: opts.platform ?? loaded.config.image.platform }, undefined, opts.args));
}

/** `ferry plan NAME` for a remote target: build (not push) to know the digest, then the adapter's read-only plan. */
export async function remotePlan(loaded: LoadedConfig, name: string, target: RemoteTargetConfig, opts: RemoteOptions, ctx: RunContext): Promise<Plan> {
  requireImageName(loaded, opts, name, target.type);
  const adapter = await loadRemoteAdapter(target.type);
  await precheck(adapter, loaded, name, target, opts);
  const { buildService } = await import('./build.js');
  const built = await buildService(opts, ctx);
  const image: PinnedImage = {
    ref: built.image ?? built.config,
    digest: built.digest,
    configDigest: built.config,
    platform: built.platform,
    ...(built.manifestMediaType === undefined ? {} : { manifestMediaType: built.manifestMediaType }),
    size: built.size,
  };
  const plan = await adapter.plan(inputFor(loaded, name, target, image, built.entrypoint, opts.args), ctx);
  plan.notes.unshift(`pushes ${image.ref} first when the registry lacks it`);
  return plan;
}

/** `ferry deploy NAME` for a remote target: push, plan, deploy, wait. */
export async function remoteDeploy(
  loaded: LoadedConfig,
  name: string,
  target: RemoteTargetConfig,
  opts: RemoteOptions,
  ctx: RunContext,
  wait: Omit<WaitOptions, 'onChange' | 'signal'> = {},
): Promise<RemoteDeployResult> {
  requireImageName(loaded, opts, name, target.type);
  const adapter = await loadRemoteAdapter(target.type);
  const { readPayload, refuseInvoke } = await import('./invoke.js');
  refuseInvoke(opts, name, target.type, adapter);
  const payload = await readPayload(opts, ctx);
  await precheck(adapter, loaded, name, target, opts);
  const { pushService } = await import('./push.js');
  const pushed = await pushService(opts, ctx);
  const image: PinnedImage = {
    ref: pushed.image,
    digest: pushed.digest,
    configDigest: pushed.config,
    platform: pushed.platform,
    ...(pushed.manifestMediaType === undefined ? {} : { manifestMediaType: pushed.manifestMediaType }),
    size: pushed.layers.reduce((n, l) => n + l.size, 0),
  };
  const input = inputFor(loaded, name, target, image, pushed.entrypoint, opts.args);
  const plan = await adapter.plan(input, ctx);
  const handle = await adapter.deploy(plan, input, ctx);
  const final = await waitForRun(() => adapter.status(handle, ctx), {
    ...wait,
    signal: ctx.signal,
    onChange: (s) => {
      const children = s.children === undefined ? '' : ` (children: ${Object.entries(s.children).map(([k, n]) => `${String(n)} ${k}`).join(', ')})`;
      ctx.reporter.info(`${handle.ref['jobId'] ?? handle.id}: ${s.phase ?? s.state}${children}${s.reason !== undefined && s.state !== 'succeeded' ? `: ${s.reason}` : ''}`);
    },
  });
  if (final.state === 'failed' || final.state === 'cancelled') {
    ctx.reporter.warn(`the run ${final.state === 'failed' ? 'failed' : 'was cancelled'}${final.reason !== undefined ? `: ${final.reason}` : ''}${final.exitCode !== undefined ? ` (exit code ${String(final.exitCode)})` : ''}`);
  }
  let invoke: InvokeResult | undefined;
  if (opts.invoke === true && final.state === 'succeeded') {
    const { invokeDeployed, invokeFailure } = await import('./invoke.js');
    invoke = await invokeDeployed(adapter, handle, payload, opts.stdout, ctx);
    if (invoke.functionError !== undefined) {
      final.state = 'failed';
      final.reason = invokeFailure(invoke);
      ctx.reporter.warn(final.reason);
    }
  }
  const exitCode = final.exitCode ?? (final.state === 'succeeded' ? 0 : 1);
  return {
    target: name,
    type: target.type,
    image: image.ref,
    digest: image.digest,
    handle,
    state: final.state,
    exitCode: final.state === 'succeeded' ? exitCode : exitCode === 0 ? 1 : exitCode,
    ...(final.reason !== undefined ? { reason: final.reason } : {}),
    ...(final.children !== undefined ? { children: final.children } : {}),
    ...(invoke !== undefined ? { invoke } : {}),
  };
}
