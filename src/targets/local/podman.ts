/**
 * The local target on the podman CLI. `podman create`, then `podman start --attach` streams the
 * output, then `podman inspect` reads the exit code, then `podman rm -f`: create and start apart
 * so a container that never started (a missing command) is told from one that exited, and the
 * exit code comes from the container's state rather than from podman's own exit status (125-127
 * are podman's errors).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import type { Reporter } from '../../core/context.js';
import { dataError, FerryError } from '../../core/errors.js';
import { runChecked, runProcess, startProcess, type RunResult } from '../../infra/process.js';
import { bindString, publishString } from './spec.js';
import { STOP_GRACE_SECONDS, type ContainerOutcome, type ContainerRun, type DetachedContainers, type LocalEngine, type RunIo } from './engine.js';

export const PODMAN = 'podman';

export function podmanEngine(version: string, env: NodeJS.ProcessEnv, reporter: Reporter): LocalEngine {
  const podman = (args: string[], opts: { input?: Readable; timeoutMs?: number } = {}) =>
    runProcess(PODMAN, args, { env, ...(opts.input === undefined ? {} : { input: opts.input }), ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) });
  return {
    kind: 'podman',
    address: `podman ${version}`,
    hasImage: async (id) => (await podman(['image', 'exists', id], { timeoutMs: 60_000 })).code === 0,
    load: async (archive) => {
      const r = await podman(['load'], { input: archive });
      if (r.code !== 0) {
        throw new FerryError('ENGINE_ERROR', `podman load failed: ${tail(r.stderr)}`, { exitCode: 69, suggestions: ["read podman's message; check `podman info`"] });
      }
      reporter.debug(`podman: ${r.stdout.trim()}`);
    },
    run: (spec, io) => runContainer(spec, io, env, reporter),
    detached: podmanDetached(env, reporter),
    close: () => Promise.resolve(),
  };
}

function podmanDetached(env: NodeJS.ProcessEnv, reporter: Reporter): DetachedContainers {
  return {
    async pull(ref, platform, signal) {
      const r = await runProcess(PODMAN, ['pull', ...(platform === undefined ? [] : ['--platform', platform]), ref], { env, timeoutMs: 3_600_000, ...(signal === undefined ? {} : { signal }) });
      if (r.code !== 0) {
        throw new FerryError('ENGINE_PULL_FAILED', `podman could not pull ${ref}: ${tail(r.stderr)}`, {
          exitCode: 69,
          details: { engine: 'podman' },
          suggestions: ['podman pulls with its own credentials and registry settings: `podman login HOST`, and mark a plain-HTTP registry insecure in registries.conf'],
        });
      }
      reporter.debug(`podman pull: ${r.stdout.trim()}`);
    },
    async start(spec) {
      const created = await createContainer(spec, env);
      if (created.code !== 0) {
        throw dataError('ENGINE_REJECTED', `podman could not create the container: ${tail(created.stderr)}`, {
          details: { engine: 'podman' },
          suggestions: ["read podman's message; it names the value it refused (a network, a volume, a user)"],
        });
      }
      const started = await runProcess(PODMAN, ['start', spec.name], { env, timeoutMs: 120_000 });
      if (started.code !== 0) {
        await runProcess(PODMAN, ['rm', '--force', '--time', '0', spec.name], { env, timeoutMs: 60_000 }).catch(() => undefined);
        throw dataError('RUN_START_FAILED', `the container could not start: ${tail(started.stderr)}`, {
          suggestions: ['check the command exists in the image and is executable', 'check the volumes and the network'],
        });
      }
    },
    inspect: async (name) => {
      const s = await inspect(name, env);
      return s === undefined ? undefined : { status: s.status, running: s.status === 'running' || s.status === 'stopping', exitCode: s.exitCode, oomKilled: s.oomKilled };
    },
    async logs(name, opts, onLine) {
      const out = lineSink((t) => { onLine('stdout', t); });
      const err = lineSink((t) => { onLine('stderr', t); });
      const p = startProcess(PODMAN, ['logs', ...(opts.follow ? ['--follow'] : []), name], { env, stdout: out.stream, stderr: err.stream });
      const onAbort = (): void => { p.kill(); };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const done = await p.done;
        if (done.code !== 0 && opts.signal?.aborted !== true) {
          throw new FerryError('ENGINE_ERROR', `podman logs ${name} failed: ${tail(done.stderrTail)}`, { exitCode: 69, details: { engine: 'podman' } });
        }
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        out.end();
        err.end();
      }
    },
    async filesIn(image, paths) {
      const out = new Map<string, boolean>();
      if (paths.length === 0) return out;
      const name = `ferry-probe-${randomBytes(6).toString('hex')}`;
      // An entrypoint is needed to create a container; it never runs.
      const created = await runProcess(PODMAN, ['create', '--name', name, '--pull=never', '--entrypoint', '["/ferry-never-runs"]', image], { env, timeoutMs: 120_000 });
      if (created.code !== 0) throw dataError('ENGINE_REJECTED', `podman could not create a container of ${image}: ${tail(created.stderr)}`, { details: { engine: 'podman' } });
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-probe-'));
      try {
        for (const [i, p] of paths.entries()) {
          const r = await runProcess(PODMAN, ['cp', `${name}:${p}`, path.join(dir, String(i))], { env, timeoutMs: 120_000 });
          out.set(p, r.code === 0);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
        await runProcess(PODMAN, ['rm', '--force', '--time', '0', name], { env, timeoutMs: 60_000 }).catch(() => undefined);
      }
      return out;
    },
    async stop(name, graceSeconds) {
      const r = await runProcess(PODMAN, ['stop', '--time', String(graceSeconds), name], { env, timeoutMs: (graceSeconds + 30) * 1000 });
      if (r.code !== 0) throw new FerryError('ENGINE_ERROR', `podman could not stop ${name}: ${tail(r.stderr)}`, { exitCode: 69, details: { engine: 'podman' } });
    },
    async remove(name) {
      const r = await runProcess(PODMAN, ['rm', '--force', '--time', '0', name], { env, timeoutMs: 60_000 });
      if (r.code !== 0) throw new FerryError('ENGINE_ERROR', `podman could not remove ${name}: ${tail(r.stderr)}`, { exitCode: 69, details: { engine: 'podman' } });
    },
  };
}

/** A writable that calls `onLine` for each line written to it (the last one at end()). */
export function lineSink(onLine: (text: string) => void): { stream: Writable; end(): void } {
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine(l.replace(/\r$/, ''));
      cb();
    },
  });
  return {
    stream,
    end() {
      if (partial !== '') onLine(partial);
      partial = '';
    },
  };
}

/**
 * `podman create` arguments for a run. With `envFile`, the environment goes in that file (written by
 * the caller from envFileText), not on the command line, where any user of the machine could read
 * it in the process list; only values with a line break, which the file format cannot hold, stay
 * as arguments.
 */
export function podmanCreateArgs(spec: ContainerRun, envFile?: string): string[] {
  const a = ['create', '--name', spec.name, '--pull=never'];
  for (const [k, v] of Object.entries(spec.labels)) a.push('--label', `${k}=${v}`);
  if (envFile !== undefined) a.push('--env-file', envFile);
  for (const [k, v] of spec.env) if (envFile === undefined || /[\r\n]/.test(v)) a.push('--env', `${k}=${v}`);
  for (const v of spec.volumes) a.push('--volume', bindString(v));
  for (const p of spec.ports) a.push('--publish', publishString(p));
  if (spec.network !== undefined) a.push('--network', spec.network);
  if (spec.workdir !== undefined) a.push('--workdir', spec.workdir);
  if (spec.user !== undefined) a.push('--user', spec.user);
  if (spec.memoryBytes !== undefined) a.push('--memory', `${spec.memoryBytes}b`);
  if (spec.cpus !== undefined) a.push('--cpus', String(spec.cpus));
  // --entrypoint takes one word or a JSON array; JSON says a list exactly, [] clears it.
  if (spec.command !== undefined) a.push('--entrypoint', spec.command.length === 0 ? '' : JSON.stringify(spec.command));
  a.push(spec.image);
  if (spec.args !== undefined) a.push(...spec.args);
  return a;
}

/** podman's --env-file format is docker's: KEY=VALUE, taken literally, one per line. */
export function envFileText(env: readonly [string, string][]): string {
  return env
    .filter(([, v]) => !/[\r\n]/.test(v))
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
}

async function createContainer(spec: ContainerRun, env: NodeJS.ProcessEnv): Promise<RunResult> {
  if (spec.env.length === 0) return runProcess(PODMAN, podmanCreateArgs(spec), { env });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-env-'));
  try {
    const file = path.join(dir, 'env');
    await writeFile(file, envFileText(spec.env), { mode: 0o600 });
    return await runProcess(PODMAN, podmanCreateArgs(spec, file), { env });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runContainer(spec: ContainerRun, io: RunIo, env: NodeJS.ProcessEnv, reporter: Reporter): Promise<ContainerOutcome> {
  const created = await createContainer(spec, env);
  if (created.code !== 0) {
    throw dataError('ENGINE_REJECTED', `podman could not create the container: ${tail(created.stderr)}`, {
      details: { engine: 'podman' },
      suggestions: ["read podman's message; it names the value it refused (a network, a volume, a user)"],
    });
  }
  let stopping: Promise<unknown> | undefined;
  let timedOut = false;
  let interrupted: string | undefined;
  const stop = (why: string): void => {
    if (why === 'timeout') timedOut = true;
    else interrupted = why;
    stopping ??= runProcess(PODMAN, ['stop', '--time', String(STOP_GRACE_SECONDS), spec.name], { env, timeoutMs: (STOP_GRACE_SECONDS + 30) * 1000 });
  };
  const onAbort = (): void => {
    stop(String(io.signal?.reason ?? 'SIGINT'));
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    if (io.signal?.aborted === true) onAbort();
    io.signal?.addEventListener('abort', onAbort, { once: true });
    if (io.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        stop('timeout');
      }, io.timeoutMs);
    }
    // --sig-proxy=false: ferry decides what a Ctrl-C does to the container (stop, then remove).
    const attached = startProcess(PODMAN, ['start', '--attach', '--sig-proxy=false', spec.name], { env, stdout: io.stdout, stderr: io.stderr });
    const done = await attached.done;
    await stopping;
    const state = await inspect(spec.name, env);
    if (state === undefined || state.status === 'created' || state.status === 'configured') {
      throw dataError('RUN_START_FAILED', `the container could not start: ${tail(done.stderrTail)}`, {
        suggestions: ['check the command (job.command, --entrypoint, the arguments after --) exists in the image and is executable', 'check the volumes, ports and user'],
      });
    }
    const out: ContainerOutcome = { exitCode: state.exitCode, oomKilled: state.oomKilled, timedOut };
    if (interrupted !== undefined) out.interrupted = interrupted;
    return out;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    io.signal?.removeEventListener('abort', onAbort);
    const rm = await runProcess(PODMAN, ['rm', '--force', '--time', '0', spec.name], { env, timeoutMs: 60_000 }).catch((e: unknown) => e);
    if (rm instanceof Error || (rm as { code: number | null }).code !== 0) {
      reporter.warn(`could not remove container ${spec.name}: ${rm instanceof Error ? rm.message : tail((rm as { stderr: string }).stderr)}`);
    }
  }
}

async function inspect(name: string, env: NodeJS.ProcessEnv): Promise<{ status: string; exitCode: number; oomKilled: boolean } | undefined> {
  const r = await runChecked(PODMAN, ['container', 'inspect', '--format', '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}', name], { env, timeoutMs: 60_000 }).catch(
    () => undefined,
  );
  if (r === undefined) return undefined;
  const [status = '', code = '-1', oom = 'false'] = r.stdout.trim().split(' ');
  return { status, exitCode: Number(code), oomKilled: oom === 'true' };
}

function tail(text: string): string {
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-5).join('\n') || 'no message';
}
