/**
 * `ferry plan` and `ferry deploy` on a target other than local: the image is built (plan) or built
 * and pushed (deploy), since a remote platform pulls it from a registry, pinned by digest; then the
 * target's adapter plans and deploys, and ferry waits for the run, reporting each change of state
 * on stderr, and answers with the run's exit code.
 */
import path from 'node:path';
import type { Writable } from 'node:stream';
import { stringify } from 'yaml';
import type { RunContext } from '../core/context.js';
import { configError, FerryError, usageError } from '../core/errors.js';
import type { CancelOutcome, DeployInput, EachInput, EachSpec, FailedChild, Handle, PinnedImage, Plan, RegistryCredential, RunState, RunStatus } from '../core/target.js';
import type { SharedRegistryPool } from './registries.js';
import type { LoadedConfig } from '../config/loader.js';
import { HandleStore } from '../infra/handles.js';
import { loadRemoteAdapter, TARGET_KINDS, type InvokeResult, type RemoteAdapter, type RemoteTargetConfig } from '../targets/index.js';
import type { BuildOptions } from './build.js';
import type { InvokeOptions } from './invoke.js';
import type { RunFlags } from './run.js';

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
  /** `--async`: ferry returned once the run was submitted; `state` is its state then. */
  async?: boolean;
  /** SIGINT or SIGTERM when a signal ended ferry's wait (the exit code is then 130 or 143). */
  interrupted?: string;
  /** What ferry did about the run on that signal: left it running (detach) or cancelled it. */
  onInterrupt?: 'detached' | 'cancelled';
  /** `--cancel-on-interrupt`: the call ferry made. */
  cancel?: CancelOutcome;
  /** `--each`: the key and how many values (children). */
  each?: { key: string; count: number };
  /** `--each` runs that failed: a few failed children, with their values. */
  failedChildren?: (FailedChild & { value: string })[];
  /** `deploy --invoke`: the invocation's answer (a FunctionError makes the deploy fail). */
  invoke?: InvokeResult;
}

export { waitForRun, type WaitOptions } from '../core/wait.js';
import { TERMINAL, waitForRun, type WaitOptions } from '../core/wait.js';

function requireImageName(loaded: LoadedConfig, opts: BuildOptions, target: string, type: string): void {
  if ((opts.imageName ?? loaded.config.image.name) !== undefined) return;
  throw configError('CONFIG_MISSING_IMAGE_NAME', `target ${target} (type ${type}) pulls the image from a registry, but image.name is not set`, {
    where: `${loaded.file} (image.name)`,
    suggestions: ['set image.name in ferry.yaml to a registry the platform can pull from (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app), or pass --image NAME'],
  });
}

/** ferry's own registry credentials, for platforms that need a pull secret: resolved only when asked. */
function credentialsFor(loaded: LoadedConfig, ctx: RunContext): (registry: string) => Promise<RegistryCredential | undefined> {
  let pool: Promise<SharedRegistryPool> | undefined;
  return async (registry) => {
    pool ??= import('./registries.js').then((m) => new m.SharedRegistryPool({ registries: loaded.config.registries, reporter: ctx.reporter, env: ctx.env }));
    return (await pool).pullCredential(registry);
  };
}

function inputFor(
  loaded: LoadedConfig,
  name: string,
  target: RemoteTargetConfig,
  image: PinnedImage,
  entrypoint: string[] | undefined,
  args: string[] | undefined,
  env?: Record<string, string>,
  each?: EachInput,
  registryCredential?: (registry: string) => Promise<RegistryCredential | undefined>,
): DeployInput<RemoteTargetConfig> {
  const job = loaded.config.job;
  return {
    ...(registryCredential === undefined ? {} : { registryCredential }),
    target: name,
    config: target,
    image,
    imageEntrypoint: entrypoint,
    ...(each !== undefined ? { each } : {}),
    job: { ...job, ...(args !== undefined && args.length > 0 ? { args } : {}), ...(env === undefined ? {} : { env }) },
    file: loaded.file,
    locate: loaded.locate === undefined ? undefined : (k) => loaded.locate?.(k),
  };
}

/**
 * The run flags as for a local run: -e and --env-file add to job.env, arguments after -- replace
 * job.args, and the flags that only mean something on this machine (-v, -p, …) are refused.
 */
export interface RemoteOptions extends BuildOptions, RunFlags, InvokeOptions {
  /** `--each`, parsed and checked by services/each.ts. */
  eachSpec?: EachSpec | undefined;
  /** `--async`: return the handle once the run is submitted. */
  async?: boolean | undefined;
  /** `--render DIR` (or - for stdout): write the manifests instead of applying them (kinds with render). */
  render?: string | undefined;
  /** What Ctrl-C during the wait does to the run (default detach: it keeps running). */
  onInterrupt?: 'detach' | 'cancel' | undefined;
  /** Where the run's log lines go (ferry's stdout; stderr under --json). */
  stdout?: Writable | undefined;
  /** From this call on, a signal aborts ctx.signal (see infra/signals.ts) instead of exiting. */
  onContainerPhase?: ((message?: (signal: string) => string) => void) | undefined;
}

/** The run flags that only a local engine understands, and the flag each came from. */
const LOCAL_ONLY: [keyof RemoteOptions, string][] = [
  ['volumes', '--volume'],
  ['publish', '--publish'],
  ['network', '--network'],
  ['workdir', '--workdir'],
  ['user', '--user'],
  ['entrypoint', '--entrypoint'],
  ['engine', '--engine'],
];

/** Refuses what the target cannot do before anything is built or sent. */
function checkFlags(opts: RemoteOptions, adapter: RemoteAdapter, type: string, name: string): void {
  for (const [key, flag] of LOCAL_ONLY) {
    const v = opts[key];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `${flag} only applies to local runs; target ${name} is of type ${type}`, {
      where: flag,
      suggestions: [`drop ${flag}, or set what ${type} offers in targets.${name} (see \`ferry config schema\`)`],
    });
  }
  const caps = TARGET_KINDS.find((k) => k.type === type)?.capabilities;
  if (opts.async === true && caps?.async !== true) {
    throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `--async needs a target whose runs ferry can follow later; ${type} cannot`, {
      where: '--async',
      suggestions: ['drop --async: deploy then waits until the target is ready', '`ferry targets` lists what each kind can do'],
    });
  }
  if (opts.render !== undefined && (adapter.render === undefined || caps?.render !== true)) {
    throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `--render writes manifests for GitOps; ${type} has none`, {
      where: '--render',
      suggestions: ['drop --render', '`ferry targets` lists what each kind can do'],
    });
  }
  if (opts.render !== undefined && (opts.async === true || opts.invoke === true)) {
    throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `--render applies nothing, so --${opts.async === true ? 'async' : 'invoke'} has no run to act on`, { where: '--render', suggestions: ['drop one of the two flags'] });
  }
  if (opts.onInterrupt === 'cancel' && (adapter.cancel === undefined || caps?.cancel !== true)) {
    throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `--cancel-on-interrupt needs a target that can cancel a run; ${type} cannot`, {
      where: '--cancel-on-interrupt',
      suggestions: ['drop --cancel-on-interrupt (Ctrl-C then only stops ferry waiting)', '`ferry targets` lists what each kind can do'],
    });
  }
}

/** job.env, then --env-file, then -e: the same order as a local run. */
async function jobEnv(loaded: LoadedConfig, opts: RemoteOptions, ctx: RunContext): Promise<Record<string, string> | undefined> {
  if ((opts.env ?? []).length === 0 && (opts.envFiles ?? []).length === 0) return undefined;
  const { readEnvFile } = await import('./run.js');
  const { parseEnvItem } = await import('../targets/local/spec.js');
  const env: Record<string, string> = { ...loaded.config.job.env };
  for (const f of opts.envFiles ?? []) {
    for (const [k, v] of await readEnvFile(path.resolve(ctx.cwd, f), { kind: 'flag', where: '--env-file' }, ctx)) env[k] = v;
  }
  for (const item of opts.env ?? []) {
    const kv = parseEnvItem(item, ctx.env, { kind: 'flag', where: '--env' });
    if (kv !== undefined) env[kv[0]] = kv[1];
  }
  return env;
}

/** Before the build: the target's own checks, on a placeholder digest (so a bad value costs no build or AWS call). */
async function precheck(adapter: RemoteAdapter, loaded: LoadedConfig, name: string, target: RemoteTargetConfig, opts: RemoteOptions, env?: Record<string, string>): Promise<void> {
  checkFlags(opts, adapter, target.type, name);
  const ref = `${opts.imageName ?? loaded.config.image.name ?? 'image'}@sha256:${'0'.repeat(64)}`;
  await adapter.check?.(inputFor(loaded, name, target, { ref, digest: `sha256:${'0'.repeat(64)}`, configDigest: '', platform: opts.platform ?? loaded.config.image.platform }, undefined, opts.args, env, opts.eachSpec), { render: opts.render !== undefined });
}

/** `ferry plan NAME` for a remote target: build (not push) to know the digest, then the adapter's read-only plan. */
export async function remotePlan(loaded: LoadedConfig, name: string, target: RemoteTargetConfig, opts: RemoteOptions, ctx: RunContext): Promise<Plan> {
  requireImageName(loaded, opts, name, target.type);
  const adapter = await loadRemoteAdapter(target.type);
  const env = await jobEnv(loaded, opts, ctx);
  await precheck(adapter, loaded, name, target, opts, env);
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
  const each = opts.eachSpec === undefined ? undefined : await (await import('./each.js')).eachInputFor(opts.eachSpec, built, ctx);
  const input = inputFor(loaded, name, target, image, built.entrypoint, opts.args, env, each, credentialsFor(loaded, ctx));
  if (opts.render !== undefined && adapter.render !== undefined) {
    const manifests = await adapter.render(input, ctx);
    // `plan --render -`: the plan itself prints the manifests as YAML on stdout.
    const files = opts.render === '-' ? [] : await writeRendered(opts.render, name, manifests, opts.stdout, ctx);
    ctx.reporter.warn(`plan --render does not push: ${image.ref} must be pushed (ferry push, or deploy --render) before the manifests are applied`);
    return { target: name, type: target.type, image, requests: [], notes: [files.length > 0 ? `wrote ${files.join(', ')}` : 'wrote the manifests to stdout'], manifests };
  }
  const plan = await adapter.plan(input, ctx);
  plan.notes.unshift(`pushes ${image.ref} first when the registry lacks it`);
  return plan;
}

/** `ferry deploy NAME` for a remote target: push, plan, deploy, then wait (streaming the run's logs) unless --async. */
export async function remoteDeploy(
  loaded: LoadedConfig,
  name: string,
  target: RemoteTargetConfig,
  opts: RemoteOptions,
  ctx: RunContext,
  wait: Omit<WaitOptions, 'onChange' | 'signal'> = {},
): Promise<RemoteDeployResult | RenderResult> {
  requireImageName(loaded, opts, name, target.type);
  const adapter = await loadRemoteAdapter(target.type);
  const { readPayload, refuseInvoke } = await import('./invoke.js');
  refuseInvoke(opts, name, target.type, adapter);
  const payload = await readPayload(opts, ctx);
  const env = await jobEnv(loaded, opts, ctx);
  await precheck(adapter, loaded, name, target, opts, env);
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
  const eachMod = opts.eachSpec === undefined ? undefined : await import('./each.js');
  const each = opts.eachSpec === undefined || eachMod === undefined ? undefined : await eachMod.eachInputFor(opts.eachSpec, pushed, ctx);
  const input = inputFor(loaded, name, target, image, pushed.entrypoint, opts.args, env, each, credentialsFor(loaded, ctx));
  if (opts.render !== undefined && adapter.render !== undefined) {
    // GitOps: the image is pushed (a manifest must name an image that exists) and the manifests
    // are written; nothing is applied, so there is no run to wait for.
    const manifests = await adapter.render(input, ctx);
    const files = await writeRendered(opts.render, name, manifests, opts.stdout, ctx);
    return { target: name, type: target.type, image: image.ref, digest: image.digest, rendered: files, manifests, state: 'rendered', exitCode: 0 };
  }
  const plan = await adapter.plan(input, ctx);
  const cancelling = opts.onInterrupt === 'cancel';
  // From here a Ctrl-C must not kill ferry between the submit and the saved handle: it aborts
  // ctx.signal; an adapter stops before submitting (INTERRUPTED, nothing started), and a run that
  // was submitted is detached (or cancelled) once its handle is saved.
  let submitted = false;
  opts.onContainerPhase?.((sig) =>
    !submitted
      ? `${sig}: stopping before anything new is started, once the step in progress is done (${sig} again to exit at once)`
      : cancelling
        ? `${sig}: cancelling the run (${sig} again to exit at once)`
        : `${sig}: detaching; the run goes on (${sig} again to exit at once)`,
  );
  const handle = await adapter.deploy(plan, input, ctx);
  submitted = true;
  const store = HandleStore.fromEnv(ctx.env, ctx.cwd);
  try {
    await store.save(handle, { config: loaded.file });
  } catch (e) {
    ctx.reporter.warn(`the run's handle was not saved, so --last and --id ${handle.id} will not find it: ${e instanceof Error ? e.message : String(e)}`);
  }
  const base = { target: name, type: target.type, image: image.ref, digest: image.digest, handle };
  const hints = runHints(handle.id, adapter);
  if (ctx.signal?.aborted === true) return interrupted(adapter, handle, { state: 'pending' }, base, hints, cancelling, ctx);
  if (opts.async === true) {
    ctx.reporter.info(`run ${handle.id} submitted; ${hints}`);
    return { ...base, async: true, state: 'pending', exitCode: 0 };
  }
  ctx.reporter.info(`run ${handle.id}: waiting for it to end (Ctrl-C ${cancelling ? 'cancels it' : 'stops waiting; the run goes on'})`);

  const logs = followLogs(adapter, handle, opts.stdout, ctx);
  let final: RunStatus;
  const onChange = (s: RunStatus): void => {
    const children = s.children === undefined ? '' : ` (children: ${Object.entries(s.children).map(([k, n]) => `${String(n)} ${k}`).join(', ')})`;
    ctx.reporter.info(`${handle.ref['jobId'] ?? handle.ref['jobName'] ?? handle.id}: ${s.phase ?? s.state}${children}${s.reason !== undefined && s.state !== 'succeeded' ? `: ${s.reason}` : ''}`);
    // An array run's parent has no logs of its own; its children's are read with --index.
    if (s.state !== 'pending' && s.children === undefined) logs.start();
  };
  try {
    // An adapter that can watch (Kubernetes) waits its own way; the others are polled.
    final = adapter.wait !== undefined ? await adapter.wait(handle, { signal: ctx.signal, onChange }, ctx) : await waitForRun(() => adapter.status(handle, ctx), { ...wait, signal: ctx.signal, onChange });
  } catch (e) {
    // The wait failed (the API kept failing): the reader must not outlive it.
    await logs.stop();
    // A run that timed out was stopped by the adapter; any other failure left it as it was.
    if (!(e instanceof FerryError && e.code === 'RUN_TIMEOUT')) ctx.reporter.warn(`run ${handle.id} may still be going; ${hints}`);
    throw e;
  }
  await store.update(handle, final);

  // (A signal during the wait aborted ctx.signal; TypeScript still holds its earlier narrowing.)
  if (!TERMINAL.includes(final.state) && isAborted(ctx.signal)) {
    await logs.stop();
    return interrupted(adapter, handle, final, base, hints, cancelling, ctx);
  }
  await logs.end();
  if (final.state === 'failed' || final.state === 'cancelled') {
    ctx.reporter.warn(`the run ${final.state === 'failed' ? 'failed' : 'was cancelled'}${final.reason !== undefined ? `: ${final.reason}` : ''}${final.exitCode !== undefined ? ` (exit code ${String(final.exitCode)})` : ''}`);
    if (opts.eachSpec !== undefined && eachMod !== undefined) for (const line of eachMod.failedChildrenReport(final, opts.eachSpec)) ctx.reporter.warn(line);
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
    ...base,
    state: final.state,
    exitCode: final.state === 'succeeded' ? exitCode : exitCode === 0 ? 1 : exitCode,
    ...(final.reason !== undefined ? { reason: final.reason } : {}),
    ...(final.children !== undefined ? { children: final.children } : {}),
    ...(opts.eachSpec !== undefined ? { each: { key: opts.eachSpec.key, count: opts.eachSpec.values.length } } : {}),
    ...(opts.eachSpec !== undefined && eachMod !== undefined && final.failedChildren !== undefined ? { failedChildren: eachMod.failedChildrenWithValues(final, opts.eachSpec) } : {}),
    ...(invoke !== undefined ? { invoke } : {}),
  };
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Ctrl-C or SIGTERM once the run exists: leave it going (detach) or cancel it, and exit 130/143. */
async function interrupted(
  adapter: RemoteAdapter,
  handle: Handle,
  last: RunStatus,
  base: Pick<RemoteDeployResult, 'target' | 'type' | 'image' | 'digest' | 'handle'>,
  hints: string,
  cancelling: boolean,
  ctx: RunContext,
): Promise<RemoteDeployResult> {
  const sig = typeof ctx.signal?.reason === 'string' ? ctx.signal.reason : 'SIGINT';
  const exitCode = sig === 'SIGTERM' ? 143 : 130;
  if (cancelling && adapter.cancel !== undefined) {
    const outcome = await adapter.cancel(handle, { reporter: ctx.reporter, env: ctx.env, cwd: ctx.cwd });
    ctx.reporter.warn(outcome.action === 'none' ? `run ${handle.id} had already ended (${outcome.phase ?? outcome.before})` : `run ${handle.id} cancelled (${outcome.action}, it was ${outcome.phase ?? outcome.before})`);
    return { ...base, state: last.state, exitCode, interrupted: sig, onInterrupt: 'cancelled', cancel: outcome };
  }
  ctx.reporter.warn(`stopped waiting; run ${handle.id} goes on (${last.phase ?? last.state}). ${hints}`);
  return { ...base, state: last.state, exitCode, interrupted: sig, onInterrupt: 'detached' };
}

/** The commands that reach a run later, as one line for stderr. */
function runHints(id: string, adapter: RemoteAdapter): string {
  const verbs = [`ferry status --id ${id}`];
  if (adapter.logs !== undefined) verbs.push(`ferry logs --id ${id} --follow`);
  if (adapter.cancel !== undefined) verbs.push(`ferry cancel --id ${id}`);
  return `follow it with: ${verbs.join(' | ')}`;
}

/**
 * The run's logs, followed while deploy waits: started once the run is running (or over), and
 * told when deploy has seen it end, so the reader drains what is left and stops without asking
 * the platform for the state itself. A failure to read logs is a warning: the run's outcome is
 * what ferry reports.
 */
function followLogs(adapter: RemoteAdapter, handle: Handle, out: Writable | undefined, ctx: RunContext): { start(): void; end(): Promise<void>; stop(): Promise<void> } {
  let markEnded: () => void = () => undefined;
  const ended = new Promise<void>((r) => {
    markEnded = r;
  });
  let reading: Promise<void> | undefined;
  const sink = out ?? process.stdout;
  // stop() aborts the reader on its own, whatever ctx.signal does.
  const halt = new AbortController();
  const signal = ctx.signal === undefined ? halt.signal : AbortSignal.any([halt.signal, ctx.signal]);
  return {
    start() {
      if (reading !== undefined || adapter.logs === undefined) return;
      const lines = adapter.logs(handle, { follow: true, ended }, { ...ctx, signal });
      reading = (async () => {
        // A line the platform marks as stderr (a Spark driver's log4j output) stays off stdout,
        // which a script may be reading for the job's own results.
        for await (const line of lines) (line.stream === 'stderr' ? process.stderr : sink).write(`${line.text}\n`);
      })().catch((e: unknown) => {
        ctx.reporter.warn(`could not read the run's logs: ${e instanceof Error ? e.message : String(e)}`);
      });
    },
    async end() {
      markEnded();
      await reading;
    },
    async stop() {
      // The reader returns after the read in progress, without a final drain.
      halt.abort();
      await reading;
    },
  };
}

/** What `deploy --render` returns: the image pushed and the manifests written, nothing applied. */
export interface RenderResult {
  target: string;
  type: string;
  image: string;
  digest: string;
  /** The files written (empty when written to stdout). */
  rendered: string[];
  manifests: Record<string, unknown>[];
  state: 'rendered';
  exitCode: 0;
}

/**
 * Writes the manifests as one multi-document YAML file, DIR/<target>.yaml (a stable path, so a
 * GitOps repository sees each change as a diff of one file), or to stdout for `-`. The file is
 * written whole or not at all (a temp file renamed over it).
 */
async function writeRendered(dir: string, target: string, manifests: Record<string, unknown>[], out: Writable | undefined, ctx: RunContext): Promise<string[]> {
  const text = manifests.map((m) => `---\n${stringify(m, { lineWidth: 0 })}`).join('');
  if (dir === '-') {
    (out ?? process.stdout).write(text);
    return [];
  }
  const { mkdir, rename, stat, writeFile } = await import('node:fs/promises');
  const abs = path.resolve(ctx.cwd, dir);
  const st = await stat(abs).catch(() => undefined);
  if (st !== undefined && !st.isDirectory()) {
    throw usageError('USAGE_RENDER_NOT_A_DIRECTORY', `--render ${dir}: ${abs} exists and is not a directory`, { where: '--render', suggestions: ['name a directory (it is created when missing), or - for stdout'] });
  }
  await mkdir(abs, { recursive: true });
  const file = path.join(abs, `${target}.yaml`);
  const tmp = `${file}.${String(process.pid)}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
  ctx.reporter.info(`wrote ${String(manifests.length)} manifest${manifests.length === 1 ? '' : 's'} to ${file}`);
  return [file];
}
