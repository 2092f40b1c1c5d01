/**
 * `ferry run` and `ferry deploy` on a local target: build the image (the native builder, into the
 * OCI layout), hand it to the engine unless the engine has that image ID already, and run it,
 * pinned by ID (sha256 of its config, which is what both docker and podman call an image ID),
 * streaming its output, to the container's own exit code.
 *
 * Settings merge as: the image's own config < `job` < the target < flags. Everything that can be
 * checked before building is (flags, env files, volume sources, the engine), so a typo fails in
 * a second rather than after the build.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { RunContext } from '../core/context.js';
import { configError, FerryError, tempError, usageError } from '../core/errors.js';
import { parseCpu, parseDuration, parseMemory } from '../core/quantities.js';
import { nearest } from '../core/suggest.js';
import type { FerryConfigParsed } from '../config/schema.js';
import type { LoadedConfig } from '../config/loader.js';
import { dockerArchive } from '../image/docker-archive.js';
import { OciLayout } from '../image/oci-layout.js';
import { shortDigest } from '../ui/format.js';
import type { BuildOptions } from './build.js';
import type { EachFlags } from './each.js';
import { loadAndCheckConfig } from './config.js';
import { localTargetSchema, type LocalTargetConfig } from '../targets/local/schema.js';
import { parseEnvFile, parseEnvItem, parsePublish, parseVolume, type Origin, type PortSpec, type VolumeSpec } from '../targets/local/spec.js';
import type { ContainerRun, EngineKind } from '../targets/local/engine.js';
import type { EnginePreference } from '../targets/local/adapter.js';
import type { TargetConfig } from '../targets/index.js';

export interface RunFlags {
  /** Arguments after `--`: replace CMD (and job.args). */
  args?: string[] | undefined;
  entrypoint?: string | undefined;
  env?: string[] | undefined;
  envFiles?: string[] | undefined;
  volumes?: string[] | undefined;
  publish?: string[] | undefined;
  network?: string | undefined;
  workdir?: string | undefined;
  user?: string | undefined;
  engine?: EnginePreference | undefined;
}

export interface RunServiceOptions extends BuildOptions, RunFlags, EachFlags {
  /** `ferry deploy NAME`; undefined for `ferry run` (the target named "local", or the defaults). */
  targetName?: string | undefined;
  command: 'run' | 'deploy';
  /** Where the container's output goes (ferry's stdout, or stderr under --json). */
  stdout: Writable;
  stderr: Writable;
  /**
   * Called once the container (or remote run) is about to exist: from then on an abort stops and
   * removes it, or detaches from it; `message` says which when Ctrl-C comes.
   */
  onContainerPhase?: (message?: (signal: string) => string) => void;
  /** ferry.yaml, when the caller has loaded it already (deploy, to pick the target). */
  loaded?: LoadedConfig | undefined;
  /** deploy --invoke and --payload (targets that can be invoked: aws-lambda). */
  invoke?: boolean | undefined;
  payloadFile?: string | undefined;
}

export interface RunResult {
  target: string;
  engine: EngineKind;
  /** Where the engine is: "unix:///var/run/docker.sock", "podman 4.3.1". */
  engineAddress: string;
  /** The pinned reference NAME@sha256:… when image.name is set, else the image ID. */
  image: string;
  /** The image ID the container ran: sha256 of the image config. */
  imageId: string;
  /** The image manifest digest (what a push pins). */
  digest: string;
  /** The container's exit code, which ferry exits with. */
  exitCode: number;
  /** The image was loaded into the engine by this run (false: the engine had it). */
  loaded: boolean;
  container: string;
  oomKilled: boolean;
  /** SIGINT or SIGTERM when ferry was interrupted and stopped the container. */
  interrupted?: string;
}

export interface Settings {
  target: string;
  local: LocalTargetConfig;
  spec: Omit<ContainerRun, 'image' | 'name'>;
  timeoutMs: number | undefined;
  engine: EnginePreference;
}

export async function runService(opts: RunServiceOptions, ctx: RunContext): Promise<RunResult> {
  const loaded = opts.loaded ?? (await loadAndCheckConfig({ configPath: opts.configPath, overrides: { platform: opts.platform, buildArgs: opts.buildArgs } }, ctx));
  const settings = await resolveSettings(loaded, opts, ctx);

  const { chooseEngine } = await import('../targets/local/adapter.js');
  const engine = await chooseEngine(settings.engine, ctx);
  try {
    const { buildService } = await import('./build.js');
    const built = await buildService(opts, ctx);
    const imageId = built.config;
    const name = `ferry-${settings.target}-${randomBytes(4).toString('hex')}`;
    let didLoad = false;
    if (await engine.hasImage(imageId)) {
      ctx.reporter.info(`${engine.kind} has ${shortDigest(imageId)} already`);
    } else {
      ctx.reporter.info(`loading ${shortDigest(imageId)} into ${engine.kind}`);
      const layout = await OciLayout.open(built.layout);
      const archive = await dockerArchive({ layout, manifest: built.digest as `sha256:${string}`, repoTags: [repoTag(loaded.config, built.digest)] });
      await engine.load(archive);
      didLoad = true;
      if (!(await engine.hasImage(imageId))) {
        throw new FerryError('ENGINE_ERROR', `${engine.kind} loaded the archive but does not have image ${imageId}`, { exitCode: 69 });
      }
    }
    if (ctx.signal?.aborted === true) {
      return interruptedBeforeStart(settings, engine.kind, engine.address, built, imageId, didLoad, name, String(ctx.signal.reason));
    }
    opts.onContainerPhase?.();
    ctx.reporter.info(`running ${shortDigest(imageId)} as ${name} on ${engine.address}`);
    const outcome = await engine.run(
      { ...settings.spec, image: imageId, name },
      { stdout: opts.stdout, stderr: opts.stderr, signal: ctx.signal, timeoutMs: settings.timeoutMs },
    );
    if (outcome.timedOut) {
      throw tempError('RUN_TIMEOUT', `the run was stopped after ${loaded.config.job.timeout ?? ''} (job.timeout); the container was removed`, {
        where: `${loaded.file} (job.timeout)`,
        details: { exitCode: outcome.exitCode, container: name },
        suggestions: ['raise job.timeout, or find what made the run slow'],
      });
    }
    if (outcome.oomKilled) ctx.reporter.warn(`the container was killed for using more memory than its limit (job.resources.memory)`);
    const result: RunResult = {
      target: settings.target,
      engine: engine.kind,
      engineAddress: engine.address,
      image: built.image ?? imageId,
      imageId,
      digest: built.digest,
      exitCode: outcome.interrupted !== undefined ? signalExit(outcome.interrupted) : outcome.exitCode,
      loaded: didLoad,
      container: name,
      oomKilled: outcome.oomKilled,
    };
    if (outcome.interrupted !== undefined) result.interrupted = outcome.interrupted;
    return result;
  } finally {
    await engine.close();
  }
}

function interruptedBeforeStart(
  s: Settings,
  engine: EngineKind,
  address: string,
  built: { image: string | null; digest: string },
  imageId: string,
  loaded: boolean,
  name: string,
  signal: string,
): RunResult {
  return { target: s.target, engine, engineAddress: address, image: built.image ?? imageId, imageId, digest: built.digest, exitCode: signalExit(signal), loaded, container: name, oomKilled: false, interrupted: signal };
}

/** A shell's code for a run stopped by a signal: 128 + its number. */
export function signalExit(signal: string): number {
  return signal === 'SIGTERM' ? 143 : signal === 'SIGHUP' ? 129 : 130;
}

/** The engine's name for a loaded image: NAME:ferry-<digest prefix>, so `docker images` shows where it came from. */
function repoTag(config: FerryConfigParsed, digest: string): string {
  const tag = `ferry-${digest.slice('sha256:'.length, 'sha256:'.length + 12)}`;
  return `${config.image.name ?? 'localhost/ferry-run'}:${tag}`;
}

/** The target a command means, merged with job and flags, every value checked. */
export async function resolveSettings(loaded: LoadedConfig, opts: RunServiceOptions, ctx: RunContext): Promise<Settings> {
  const { config } = loaded;
  const picked = pickTarget(loaded, opts);
  const name = picked.name;
  if (picked.target.type !== 'local') {
    // The deploy and plan services send other kinds to their adapters before this point.
    throw new FerryError('INTERNAL', `target ${name} is of type ${picked.target.type}, not local`);
  }
  const local = picked.target;
  const job = config.job;
  const flag = (where: string): Origin => ({ kind: 'flag', where });
  const cfg = (key: string): Origin => ({ kind: 'config', where: `${loaded.file} (${key})` });

  // Environment: job.env < target envFiles < --env-file < -e (docker's order: files, then -e).
  const env = new Map<string, string>(Object.entries(job.env));
  for (const [i, f] of local.envFiles.entries()) {
    for (const [k, v] of await readEnvFile(path.resolve(loaded.dir, f), cfg(`targets.${name}.envFiles.${i}`), ctx)) env.set(k, v);
  }
  for (const f of opts.envFiles ?? []) {
    for (const [k, v] of await readEnvFile(path.resolve(ctx.cwd, f), flag('--env-file'), ctx)) env.set(k, v);
  }
  for (const item of opts.env ?? []) {
    const kv = parseEnvItem(item, ctx.env, flag('--env'));
    if (kv !== undefined) env.set(kv[0], kv[1]);
  }

  const home = ctx.env['HOME'];
  const volumes: VolumeSpec[] = [];
  for (const [i, v] of local.volumes.entries()) volumes.push(parseVolume(v, loaded.dir, cfg(`targets.${name}.volumes.${i}`), home));
  for (const v of opts.volumes ?? []) volumes.push(parseVolume(v, ctx.cwd, flag('--volume'), home));
  for (const [i, v] of volumes.entries()) {
    if (v.named) continue;
    const fromFlag = i >= local.volumes.length;
    try {
      await stat(v.source);
    } catch (e) {
      // Docker would create a missing source as an empty root-owned folder: almost always a typo.
      const where = fromFlag ? '--volume' : `${loaded.file} (targets.${name}.volumes.${i})`;
      throw new FerryError('VOLUME_SOURCE_NOT_FOUND', `volume source ${v.source} does not exist`, {
        exitCode: fromFlag ? 64 : 78,
        where,
        cause: e,
        suggestions: [fromFlag ? 'a relative source is relative to the current folder; fix the path or create it' : 'a relative source in ferry.yaml is relative to ferry.yaml; fix the path or create it'],
      });
    }
  }
  const ports: PortSpec[] = [
    ...local.ports.map((p, i) => parsePublish(p, cfg(`targets.${name}.ports.${i}`))),
    ...(opts.publish ?? []).map((p) => parsePublish(p, flag('--publish'))),
  ];

  if (opts.workdir !== undefined && !opts.workdir.startsWith('/')) {
    throw usageError('USAGE_BAD_WORKDIR', `--workdir ${opts.workdir} is not an absolute path`, { where: '--workdir', suggestions: ['give an absolute path in the container, e.g. --workdir /data'] });
  }

  const spec: Settings['spec'] = { env: [...env], volumes, ports, labels: { 'dev.ferry.target': name, 'dev.ferry.command': opts.command } };
  const command = opts.entrypoint !== undefined ? (opts.entrypoint === '' ? [] : [opts.entrypoint]) : job.command;
  if (command !== undefined) spec.command = command;
  const args = opts.args !== undefined && opts.args.length > 0 ? opts.args : job.args;
  if (args !== undefined) spec.args = args;
  const network = opts.network ?? local.network;
  if (network !== undefined) spec.network = network;
  const workdir = opts.workdir ?? local.workdir;
  if (workdir !== undefined) spec.workdir = workdir;
  const user = opts.user ?? local.user;
  if (user !== undefined) spec.user = user;
  const memory = job.resources?.memory;
  if (memory !== undefined) spec.memoryBytes = parseMemory(memory) ?? 0;
  if ((job.resources?.gpu ?? 0) > 0) ctx.reporter.warn(`job.resources.gpu is not passed to local engines; the container runs without GPUs`);
  const cpu = job.resources?.cpu;
  if (cpu !== undefined) spec.cpus = parseCpu(cpu) ?? 0;
  const timeoutMs = job.timeout === undefined ? undefined : parseDuration(job.timeout);
  return { target: name, local, spec, timeoutMs, engine: opts.engine ?? local.engine };
}

/**
 * Which target: `deploy NAME` names one; `deploy` alone takes the only target, or the implicit
 * `local` when there are none; `run` takes the target named "local" when it is of type local,
 * else the implicit one.
 */
export function pickTarget(loaded: LoadedConfig, opts: Pick<RunServiceOptions, 'command' | 'targetName'>): { name: string; target: TargetConfig } {
  const targets = loaded.config.targets ?? {};
  const names = Object.keys(targets);
  const implicit = (): { name: string; target: LocalTargetConfig } => ({ name: 'local', target: localTargetSchema.parse({ type: 'local' }) });
  if (opts.command === 'run') {
    const t = targets['local'];
    return t?.type === 'local' ? { name: 'local', target: t } : implicit();
  }
  let name = opts.targetName;
  if (name === undefined) {
    if (names.length === 0) return implicit();
    if (names.length === 1) name = names[0] ?? 'local';
    else {
      throw usageError('USAGE_TARGET_REQUIRED', `ferry.yaml has ${names.length} targets; say which one: ferry deploy NAME`, {
        suggestions: [`one of: ${names.join(', ')}`],
      });
    }
  }
  const t = targets[name];
  if (t === undefined) {
    if (name === 'local' && names.length === 0) return implicit();
    const near = nearest(name, names.length === 0 ? ['local'] : names);
    throw configError('CONFIG_UNKNOWN_TARGET', `no target "${name}" in ${loaded.file}${names.length === 0 ? ' (it has no targets: only the implicit "local")' : ` (targets: ${names.join(', ')})`}`, {
      where: `${loaded.file} (targets)`,
      suggestions: [
        ...(near !== undefined ? [`did you mean \`ferry deploy ${near}\`?`] : []),
        `add it under targets: in ${path.basename(loaded.file)}, e.g. targets: {${name}: {type: local}}`,
      ],
    });
  }
  return { name, target: t };
}

export async function readEnvFile(file: string, origin: Origin, ctx: RunContext): Promise<[string, string][]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FerryError('ENV_FILE_NOT_FOUND', `env file ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(e)})`}`, {
      exitCode: origin.kind === 'flag' ? 64 : 78,
      where: origin.where,
      cause: e,
      suggestions: [origin.kind === 'flag' ? 'a relative --env-file is relative to the current folder' : 'envFiles in ferry.yaml are relative to ferry.yaml'],
    });
  }
  const display = path.relative(ctx.cwd, file) || file;
  return parseEnvFile(text, display.startsWith('..') ? file : display, ctx.env, origin);
}
