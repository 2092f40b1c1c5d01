/** The local target on a Docker Engine API (Docker, or podman's `podman system service`). */
import type { Readable } from 'node:stream';
import type { Reporter } from '../../core/context.js';
import { dataError, FerryError } from '../../core/errors.js';
import type { ContainerSpec, DockerClient } from '../../engines/docker/client.js';
import { bindString } from './spec.js';
import { STOP_GRACE_SECONDS, type ContainerOutcome, type ContainerRun, type DetachedContainers, type LocalEngine, type RunIo } from './engine.js';

export function dockerEngine(client: DockerClient, reporter: Reporter): LocalEngine {
  return {
    kind: 'docker',
    address: client.address,
    hasImage: async (id) => (await client.imageInspect(id)) !== undefined,
    load: async (archive: Readable) => {
      const lines = await client.loadImage(archive);
      for (const l of lines) reporter.debug(`engine: ${l}`);
    },
    run: (spec, io) => runContainer(client, spec, io, reporter),
    detached: dockerDetached(client, reporter),
    close: () => client.close(),
  };
}

function dockerDetached(client: DockerClient, reporter: Reporter): DetachedContainers {
  return {
    async pull(ref, platform, signal) {
      // NAME@sha256:… is pulled as fromImage=NAME, tag=sha256:… (the Engine API's form for digests).
      const at = ref.lastIndexOf('@');
      await client.pullImage(at === -1 ? ref : ref.slice(0, at), at === -1 ? 'latest' : ref.slice(at + 1), platform, signal);
    },
    async start(spec) {
      const { id, warnings } = await client.createContainer(containerSpec(spec), spec.name);
      for (const w of warnings) reporter.warn(`engine: ${w}`);
      try {
        await client.startContainer(id);
      } catch (e) {
        await client.removeContainer(id, { force: true }).catch(() => undefined);
        if (e instanceof FerryError && (e.code === 'ENGINE_ERROR' || e.code === 'ENGINE_REJECTED')) {
          throw dataError('RUN_START_FAILED', `the container could not start: ${e.message}`, { cause: e, suggestions: ['check the command exists in the image and is executable', 'check the volumes and the network'] });
        }
        throw e;
      }
    },
    inspect: async (name) => {
      const s = await client.inspectContainer(name);
      return s === undefined ? undefined : { status: s.status, running: s.running, exitCode: s.exitCode, oomKilled: s.oomKilled, ...(s.error === '' ? {} : { error: s.error }) };
    },
    async logs(name, opts, onLine) {
      const out = lineSplit((t) => { onLine('stdout', t); });
      const err = lineSplit((t) => { onLine('stderr', t); });
      try {
        await client.containerLogs(name, { follow: opts.follow, ...(opts.signal === undefined ? {} : { signal: opts.signal }) }, out.push, err.push);
      } catch (e) {
        if (opts.signal?.aborted !== true) throw e;
      } finally {
        out.end();
        err.end();
      }
    },
    async filesIn(image, paths) {
      const out = new Map<string, boolean>();
      if (paths.length === 0) return out;
      // An entrypoint is needed to create a container; it never runs.
      const { id } = await client.createContainer({ Image: image, Entrypoint: ['/ferry-never-runs'], Labels: { 'dev.ferry.kind': 'probe' }, HostConfig: { AutoRemove: false } });
      try {
        for (const p of paths) out.set(p, await client.pathExists(id, p));
      } finally {
        await client.removeContainer(id, { force: true }).catch(() => undefined);
      }
      return out;
    },
    stop: (name, graceSeconds) => client.stopContainer(name, graceSeconds),
    remove: (name) => client.removeContainer(name, { force: true }),
  };
}

function lineSplit(onLine: (text: string) => void): { push: (b: Buffer) => void; end: () => void } {
  let partial = '';
  return {
    push: (b) => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine(l.replace(/\r$/, ''));
    },
    end: () => {
      if (partial !== '') onLine(partial);
      partial = '';
    },
  };
}

export function containerSpec(spec: ContainerRun): ContainerSpec {
  const body: ContainerSpec = {
    Image: spec.image,
    Env: spec.env.map(([k, v]) => `${k}=${v}`),
    Labels: spec.labels,
    Tty: false,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: false,
    HostConfig: { AutoRemove: false },
  };
  const host = body.HostConfig ?? {};
  // The Engine API clears an ENTRYPOINT with [""]; an empty list would mean "the image's".
  if (spec.command !== undefined) body.Entrypoint = spec.command.length === 0 ? [''] : spec.command;
  if (spec.args !== undefined) body.Cmd = spec.args;
  if (spec.workdir !== undefined) body.WorkingDir = spec.workdir;
  if (spec.user !== undefined) body.User = spec.user;
  if (spec.volumes.length > 0) host.Binds = spec.volumes.map(bindString);
  if (spec.ports.length > 0) {
    body.ExposedPorts = {};
    host.PortBindings = {};
    for (const p of spec.ports) {
      const key = `${p.containerPort}/${p.protocol}`;
      body.ExposedPorts[key] = {};
      const binding: { HostIp?: string; HostPort: string } = { HostPort: p.hostPort === undefined ? '' : String(p.hostPort) };
      if (p.hostIp !== undefined) binding.HostIp = p.hostIp;
      (host.PortBindings[key] ??= []).push(binding);
    }
  }
  if (spec.network !== undefined) host.NetworkMode = spec.network;
  if (spec.memoryBytes !== undefined) host.Memory = spec.memoryBytes;
  if (spec.cpus !== undefined) host.NanoCpus = Math.round(spec.cpus * 1e9);
  body.HostConfig = host;
  return body;
}

async function runContainer(client: DockerClient, spec: ContainerRun, io: RunIo, reporter: Reporter): Promise<ContainerOutcome> {
  const { id, warnings } = await client.createContainer(containerSpec(spec), spec.name);
  for (const w of warnings) reporter.warn(`engine: ${w}`);
  let stopping: Promise<void> | undefined;
  let timedOut = false;
  let interrupted: string | undefined;
  const stop = (why: string): void => {
    if (why === 'timeout') timedOut = true;
    else interrupted = why;
    stopping ??= client.stopContainer(id, STOP_GRACE_SECONDS).catch((e: unknown) => {
      reporter.debug(`stopping ${spec.name}: ${e instanceof Error ? e.message : String(e)}`);
    });
  };
  const onAbort = (): void => {
    stop(String(io.signal?.reason ?? 'SIGINT'));
  };
  let timer: NodeJS.Timeout | undefined;
  const logsAbort = new AbortController();
  try {
    try {
      await client.startContainer(id);
    } catch (e) {
      if (e instanceof FerryError && (e.code === 'ENGINE_ERROR' || e.code === 'ENGINE_REJECTED')) {
        const msg = typeof e.details?.['engineMessage'] === 'string' ? e.details['engineMessage'] : e.message;
        throw dataError('RUN_START_FAILED', `the container could not start: ${msg}`, {
          cause: e,
          suggestions: ['check the command (job.command, --entrypoint, the arguments after --) exists in the image and is executable', 'check the volumes, ports and user'],
        });
      }
      throw e;
    }
    if (io.signal?.aborted === true) onAbort();
    io.signal?.addEventListener('abort', onAbort, { once: true });
    if (io.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        stop('timeout');
      }, io.timeoutMs);
    }
    const logs = client
      .containerLogs(
        id,
        { follow: true, signal: logsAbort.signal },
        (b) => io.stdout.write(b),
        (b) => io.stderr.write(b),
      )
      .catch((e: unknown) => {
        if (!logsAbort.signal.aborted) reporter.warn(`the container's output was cut short: ${e instanceof Error ? e.message : String(e)}`);
      });
    // Wait for the end, and also look every second: one run in the test suite saw podman 4.3's
    // API miss a quick container's end, leaving a wait (or a log stream) open for good.
    const waitAbort = new AbortController();
    await Promise.race([
      client.waitContainer(id, waitAbort.signal).catch((e: unknown) => {
        if (!waitAbort.signal.aborted) throw e;
      }),
      untilStopped(client, id, waitAbort.signal),
    ]);
    waitAbort.abort();
    // The output ends when the container does; a stream the engine keeps open is not waited on.
    const grace = setTimeout(() => {
      logsAbort.abort();
    }, 5000);
    await logs;
    clearTimeout(grace);
    await stopping;
    const state = await client.inspectContainer(id);
    const out: ContainerOutcome = { exitCode: state?.exitCode ?? -1, oomKilled: state?.oomKilled ?? false, timedOut };
    if (interrupted !== undefined) out.interrupted = interrupted;
    return out;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    io.signal?.removeEventListener('abort', onAbort);
    logsAbort.abort();
    await client.removeContainer(id, { force: true }).catch((e: unknown) => {
      reporter.warn(`could not remove container ${spec.name}: ${e instanceof Error ? e.message : String(e)}`);
    });
  }
}

async function untilStopped(client: DockerClient, id: string, signal: AbortSignal): Promise<void> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (signal.aborted) return;
    const state = await client.inspectContainer(id);
    if (state === undefined || !state.running) return;
  }
}
