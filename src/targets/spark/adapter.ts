/**
 * The Spark adapter. spark-submit runs inside the pushed image, pinned by digest, in a container on
 * this machine's engine (the local target's engines: podman or a Docker Engine API):
 *
 *  - local[*] and spark:// masters: client mode, so that container is the driver. It is started
 *    detached and not auto-removed; the run is the container: status is its state and exit code,
 *    logs its output, cancel stops it (SIGTERM, then SIGKILL after 10 s), which ends the
 *    application (a standalone master kills the executors of a driver that went away).
 *  - k8s:// masters: cluster mode. spark-submit creates the driver pod (the same image) and returns;
 *    the run is then that pod, read through the Kubernetes API (kube.ts).
 *
 * The engine pulls the image by digest from the registry ferry pushed it to, with its own
 * credentials and registry settings (as `docker run` would), then runs it by image ID.
 */
import { silentReporter, type RunContext } from '../../core/context.js';
import { dataError, FerryError, interruptedError, tempError, usageError } from '../../core/errors.js';
import { parseDuration } from '../../core/quantities.js';
import { abortableSleep } from '../../infra/sleep.js';
import { newRunId } from '../../core/run-id.js';
import type { CancelOutcome, DeployInput, Handle, LogLine, LogOptions, Plan, PlannedRequest, RunStatus } from '../../core/target.js';
import type { RemoteAdapter, RemoteTargetConfig } from '../index.js';
import type { ContainerStatus, LocalEngine } from '../local/engine.js';
import { STOP_GRACE_SECONDS } from '../local/engine.js';
import type { SparkTargetConfig } from './schema.js';
import { PROPERTIES_IN_CONTAINER, problemAt, sparkSubmitFor, type SparkSubmit } from './submit.js';

type Input = DeployInput<RemoteTargetConfig>;

const RUN = 'run spark-submit';

function sparkInput(input: Input): DeployInput<SparkTargetConfig> {
  // RemoteTargetConfig is a union of every remote kind; this adapter only ever gets its own.
  if (input.config.type !== 'spark') throw new FerryError('INTERNAL', `the spark adapter got a ${input.config.type} target`);
  return { ...input, config: input.config };
}

/** One engine per preference (and address) for this process: status polls would otherwise probe it every time. */
const engines = new Map<string, Promise<LocalEngine>>();
async function engineFor(pref: string, ctx: RunContext, key = pref): Promise<LocalEngine> {
  let e = engines.get(key);
  if (e === undefined) {
    const { chooseEngine } = await import('../local/adapter.js');
    e = chooseEngine(pref === 'docker' || pref === 'podman' ? pref : 'auto', ctx);
    engines.set(key, e);
    e.catch(() => engines.delete(key));
  }
  return e;
}

/**
 * The engine a run's container is on. A Docker Engine API run records its address, so a later
 * ferry without the same DOCKER_HOST (or context) still reaches it there; a TLS address also needs
 * its certificates, which only the settings that reached it have, so that one must be current.
 */
async function handleEngine(h: Handle, ctx: RunContext): Promise<LocalEngine> {
  const kind = h.ref['engine'] ?? 'auto';
  const recorded = h.ref['engineAddress'];
  if (kind !== 'docker' || recorded === undefined) return engineFor(kind, ctx);
  const { describeEndpoint, discoverDockerEndpoint } = await import('../../engines/docker/endpoint.js');
  const current = await discoverDockerEndpoint(ctx.env).then(
    (d) => describeEndpoint(d.endpoint),
    () => undefined,
  );
  if (current === recorded) return engineFor('docker', ctx);
  if (!recorded.startsWith('unix://') && !recorded.startsWith('tcp://')) {
    throw new FerryError('SPARK_ENGINE_CHANGED', `run ${h.id} is on the Docker Engine API at ${recorded}, but this ferry's engine is ${current ?? 'not set'}`, {
      exitCode: 78,
      details: { recorded, current: current ?? '' },
      suggestions: [`point DOCKER_HOST (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or DOCKER_CONTEXT at ${recorded}, as when the run was deployed`],
    });
  }
  return engineFor('docker', { ...ctx, env: { ...ctx.env, DOCKER_HOST: recorded, DOCKER_CONTEXT: '', DOCKER_TLS_VERIFY: '' } }, `docker ${recorded}`);
}

/** What the plan's run request carries: deploy runs exactly this. */
interface RunPayload {
  runId: string;
  engine: string;
  image: string;
  imageId: string;
  submit: SparkSubmit;
}

export const sparkAdapter: RemoteAdapter = {
  type: 'spark',

  async check(input, opts): Promise<void> {
    const si = sparkInput(input);
    if (si.config.submit === 'operator') {
      (await import('./operator.js')).operatorCheck(si, opts?.render === true, { reporter: silentReporter, env: process.env, cwd: process.cwd() });
      return;
    }
    if (opts?.render === true) {
      throw usageError('USAGE_FLAG_NOT_FOR_TARGET', `--render writes a SparkApplication for the Spark operator; target ${input.target} runs spark-submit`, {
        where: '--render',
        suggestions: ['set submit: operator in the target to run it as a SparkApplication', 'drop --render'],
      });
    }
    sparkSubmitFor(si, { runId: '00000000-000000000000', env: process.env });
  },

  async render(input, ctx): Promise<Record<string, unknown>[]> {
    return (await import('./operator.js')).operatorRender(sparkInput(input), ctx);
  },

  async plan(input, ctx): Promise<Plan> {
    const si = sparkInput(input);
    if (si.config.submit === 'operator') return (await import('./operator.js')).operatorPlan(si, ctx);
    const runId = newRunId();
    const submit = sparkSubmitFor(si, { runId, env: ctx.env });
    const engine = await engineFor(si.config.engine, ctx);
    const requests: PlannedRequest[] = [];
    const notes = [...submit.notes];
    if (await engine.hasImage(input.image.configDigest)) notes.push(`${engine.kind} has image ${input.image.configDigest.slice(0, 19)} already: nothing to pull`);
    else requests.push({ service: engine.kind, action: 'pull image', payload: { image: input.image.ref } });
    const payload: RunPayload = { runId, engine: engine.kind, image: input.image.ref, imageId: input.image.configDigest, submit };
    requests.push({
      service: engine.kind,
      action: RUN,
      payload: {
        ...payload,
        // What a person reads in `ferry plan`: the command line, as the container runs it.
        commandLine: [...submit.container.command, ...submit.argv],
        // job.env's values may be secrets: the plan shows where each key goes, never its value.
        ...(submit.jobEnv.keys.length === 0 ? {} : { jobEnv: jobEnvShown(submit) }),
      },
    });
    if (submit.kubernetes !== undefined) {
      notes.push(`then follows pod ${submit.kubernetes.namespace}/${submit.kubernetes.driverPod} until it ends`);
    } else {
      notes.push(`then follows container ${submit.container.name} until it ends, and exits with the driver's exit code`);
    }
    return { target: input.target, type: 'spark', image: input.image, requests, notes };
  },

  async deploy(plan, input, ctx): Promise<Handle> {
    const si = sparkInput(input);
    if (si.config.submit === 'operator') return (await import('./operator.js')).operatorDeploy(si, ctx);
    const req = plan.requests.find((r) => r.action === RUN);
    if (req === undefined) throw new FerryError('INTERNAL', 'the spark plan has no run request');
    const p = req.payload as RunPayload;
    const engine = await engineFor(si.config.engine, ctx);
    if (!(await engine.hasImage(p.imageId))) {
      ctx.reporter.info(`${engine.kind}: pulling ${p.image}`);
      try {
        // A large image can take minutes: Ctrl-C stops the pull, and nothing has been started.
        await engine.detached.pull(p.image, input.image.platform, ctx.signal);
      } catch (e) {
        if (ctx.signal?.aborted === true) throw interruptedError(ctx.signal.reason, `${engine.kind} had pulled ${p.image} (the pull was stopped)`);
        throw e;
      }
      // The pin: what the engine now has under that digest must be the image ferry built.
      if (!(await engine.hasImage(p.imageId))) {
        throw new FerryError('ENGINE_ERROR', `${engine.kind} pulled ${p.image} but does not have image ${p.imageId}`, { exitCode: 69 });
      }
    }
    // Before anything starts: the files the command line names in the image must be there (a
    // missing one would otherwise fail only once spark-submit, or the driver pod, has started).
    const found = await engine.detached.filesIn(p.imageId, p.submit.imageFiles.map((f) => f.path));
    const missing = p.submit.imageFiles.find((f) => found.get(f.path) === false);
    if (missing !== undefined) {
      throw problemAt(si, 'SPARK_FILE_NOT_IN_IMAGE', missing.key, `${missing.key}: the image has no ${missing.path}`, [
        'COPY the file into the image at that path (check the Dockerfile and .dockerignore), or fix the path',
      ]);
    }
    if (ctx.signal?.aborted === true) throw interruptedError(ctx.signal.reason, `starting spark-submit for ${input.target}`);
    const spec = {
      image: p.imageId,
      name: p.submit.container.name,
      command: p.submit.container.command,
      args: p.submit.argv,
      env: p.submit.container.env,
      volumes: p.submit.container.volumes,
      ports: [],
      network: p.submit.container.network,
      labels: p.submit.container.labels,
    };
    const base = { id: p.runId, target: input.target, type: 'spark', image: input.image.ref, createdAt: new Date().toISOString() };
    const deadline = deadlineRef(si);
    const { withPrivateFiles } = await import('./private-files.js');
    if (p.submit.kubernetes === undefined) {
      await withPrivateFiles(spec, p.submit, si.job.env, (run) => engine.detached.start(run));
      ctx.reporter.info(`started spark-submit (${p.submit.master}, client mode) as container ${spec.name} on ${engine.address}`);
      // The engine's address too: a later `ferry status` must find the container on the same engine.
      const address = engine.kind === 'docker' ? { engineAddress: engine.address } : {};
      return { ...base, ref: { driverContainer: spec.name, engine: engine.kind, ...address, master: p.submit.master, mode: p.submit.mode, ...deadline } };
    }
    const { submitToKubernetes } = await import('./kube.js');
    await withPrivateFiles(spec, p.submit, si.job.env, (run) => submitToKubernetes(engine, run, p.submit, ctx));
    const k = p.submit.kubernetes;
    return {
      ...base,
      ref: {
        driverPod: k.driverPod,
        namespace: k.namespace,
        kubeconfig: k.kubeconfig,
        ...(k.context === undefined ? {} : { context: k.context }),
        master: p.submit.master,
        mode: 'k8s',
        engine: engine.kind,
        ...deadline,
      },
    };
  },

  async status(h, ctx): Promise<RunStatus> {
    if (h.ref['mode'] === 'operator') return (await import('./operator.js')).operatorStatus(h, ctx);
    if (h.ref['mode'] === 'k8s') return (await import('./kube.js')).podStatus(h);
    const s = await driverContainer(h, ctx);
    return containerRunStatus(s);
  },

  /**
   * spark-submit runs: polls status as deploy would, and applies job.timeout: neither a container nor a driver pod
   * has a deadline of its own that ferry could set for every master, so the waiting ferry stops
   * a run that goes on past it (as `ferry run` stops a local container) and fails with RUN_TIMEOUT.
   */
  async wait(h, cb, ctx): Promise<RunStatus> {
    // A SparkApplication is watched (its job.timeout is the driver pod's activeDeadlineSeconds).
    if (h.ref['mode'] === 'operator') return (await import('./operator.js')).operatorWait(h, cb, ctx);
    const deadline = h.ref['deadline'] === undefined ? undefined : Date.parse(h.ref['deadline']);
    let delay = 1000;
    let last = '';
    for (;;) {
      const s = await sparkAdapter.status(h, ctx);
      const key = `${s.state}/${s.phase ?? ''}`;
      if (key !== last) cb.onChange(s);
      last = key;
      if (s.state === 'succeeded' || s.state === 'failed' || s.state === 'cancelled' || cb.signal?.aborted === true) return s;
      if (deadline !== undefined && Date.now() >= deadline) {
        const outcome = await sparkAdapter.cancel?.(h, ctx);
        // It ended on its own meanwhile: its own outcome is the answer.
        if (outcome?.action === 'none') return sparkAdapter.status(h, ctx);
        throw timedOut(h);
      }
      await abortableSleep(deadline === undefined ? delay : Math.min(delay, Math.max(0, deadline - Date.now())), cb.signal);
      delay = Math.min(15_000, Math.ceil(delay * 1.5));
    }
  },

  logs(h, opts, ctx): AsyncIterable<LogLine> {
    if (h.ref['mode'] === 'operator') return operatorLogs(h, opts, ctx);
    if (h.ref['mode'] === 'k8s') return kubeLogs(h, opts, ctx);
    return containerLogs(h, opts, ctx);
  },

  async cancel(h, ctx): Promise<CancelOutcome> {
    if (h.ref['mode'] === 'operator') return (await import('./operator.js')).operatorCancel(h, ctx);
    if (h.ref['mode'] === 'k8s') return (await import('./kube.js')).deleteDriverPod(h);
    const engine = await handleEngine(h, ctx);
    const name = h.ref['driverContainer'] ?? '';
    const s = await driverContainer(h, ctx);
    const before = containerRunStatus(s);
    if (!s.running) return { action: 'none', before: before.state, ...(before.phase === undefined ? {} : { phase: before.phase }) };
    await engine.detached.stop(name, STOP_GRACE_SECONDS);
    return { action: 'stop spark-submit container', before: before.state, ...(before.phase === undefined ? {} : { phase: before.phase }) };
  },
};

/** job.timeout as the handle keeps it: when the run must have ended, and where it was set. */
function deadlineRef(input: DeployInput<SparkTargetConfig>): Record<string, string> {
  const text = input.job.timeout;
  const ms = text === undefined ? undefined : parseDuration(text);
  if (text === undefined || ms === undefined) return {};
  return { deadline: new Date(Date.now() + ms).toISOString(), timeout: text, timeoutAt: `${input.locate?.(['job', 'timeout']) ?? input.file} (job.timeout)` };
}

/** The run went on past job.timeout and was stopped (as ferry cancel does): RUN_TIMEOUT, exit 75 as for `ferry run`. */
function timedOut(h: Handle): FerryError {
  const what = h.ref['mode'] === 'k8s' ? `driver pod ${h.ref['namespace'] ?? ''}/${h.ref['driverPod'] ?? ''} was deleted` : `spark-submit container ${h.ref['driverContainer'] ?? ''} was stopped (and kept for ferry logs)`;
  return tempError('RUN_TIMEOUT', `run ${h.id} was still going after ${h.ref['timeout'] ?? ''} (job.timeout): its ${what}`, {
    where: h.ref['timeoutAt'] ?? 'job.timeout',
    details: { run: h.id },
    suggestions: [`raise job.timeout, or find what made the run slow: ferry logs --id ${h.id}`],
  });
}

/** Where job.env goes, for the plan: keys only, values redacted. */
function jobEnvShown(submit: SparkSubmit): { containerEnv?: string[]; propertiesFile?: { path: string; entries: string[] } } {
  const redacted = '<redacted>';
  return {
    ...(submit.jobEnv.container ? { containerEnv: submit.jobEnv.keys.map((k) => `${k}=${redacted}`) } : {}),
    ...(submit.jobEnv.properties.length === 0 ? {} : { propertiesFile: { path: PROPERTIES_IN_CONTAINER, entries: submit.jobEnv.properties.map((e) => `${e.name}=${redacted}`) } }),
  };
}

async function driverContainer(h: Handle, ctx: RunContext): Promise<ContainerStatus> {
  const engine = await handleEngine(h, ctx);
  const name = h.ref['driverContainer'] ?? '';
  const s = await engine.detached.inspect(name);
  if (s === undefined) {
    throw dataError('SPARK_RUN_NOT_FOUND', `${engine.kind} has no container ${name} (run ${h.id}): it was removed`, {
      details: { container: name, engine: engine.kind },
      suggestions: [`ferry keeps the spark-submit container after it ends so that status and logs can read it; it was removed outside ferry (e.g. \`${engine.kind} rm\`), or this is another machine or engine`],
    });
  }
  return s;
}

/** The container's state in the contract's words; its exit code is the driver's. */
export function containerRunStatus(s: ContainerStatus): RunStatus {
  if (s.running) return { state: 'running', phase: 'RUNNING' };
  if (s.status === 'created' || s.status === 'configured' || s.status === 'initialized') return { state: 'pending', phase: s.status.toUpperCase() };
  const phase = `EXITED ${String(s.exitCode)}`;
  if (s.exitCode === 0) return { state: 'succeeded', phase, exitCode: 0 };
  const reason = s.oomKilled
    ? 'the spark-submit container was killed for using more memory than it may (OOMKilled)'
    : s.exitCode === 143 || s.exitCode === 137
      ? `the driver was stopped (exit ${String(s.exitCode)}: ${s.exitCode === 143 ? 'SIGTERM' : 'SIGKILL'}), e.g. by ferry cancel`
      : s.error !== undefined && s.error !== ''
        ? s.error
        : `the driver exited with ${String(s.exitCode)}`;
  return { state: 'failed', phase, exitCode: s.exitCode, reason };
}

/**
 * The driver's output (spark-submit's stdout and stderr, where Spark logs), from the start. Following,
 * it ends when the container does; once deploy says the run ended, the engine's stream gets a few
 * seconds to drain before it is cut.
 */
async function* containerLogs(h: Handle, opts: LogOptions, ctx: RunContext): AsyncGenerator<LogLine> {
  const engine = await handleEngine(h, ctx);
  const name = h.ref['driverContainer'] ?? '';
  await driverContainer(h, ctx);
  const stop = new AbortController();
  const signal = ctx.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, ctx.signal]);
  let timer: NodeJS.Timeout | undefined;
  void opts.ended?.then(() => {
    timer = setTimeout(() => {
      stop.abort();
    }, 5000);
  });
  yield* pump((onLine) => engine.detached.logs(name, { follow: opts.follow, signal }, (stream, text) => { onLine({ stream, text }); }), () => {
    if (timer !== undefined) clearTimeout(timer);
  });
}

async function* operatorLogs(h: Handle, opts: LogOptions, ctx: RunContext): AsyncGenerator<LogLine> {
  yield* (await import('./operator.js')).operatorLogs(h, opts, ctx);
}

async function* kubeLogs(h: Handle, opts: LogOptions, ctx: RunContext): AsyncGenerator<LogLine> {
  const { podLogs } = await import('./kube.js');
  yield* pump((onLine) => podLogs(h, opts, ctx, onLine), () => undefined);
}

/** Turns a callback reader into an async iterable of lines, keeping order, surfacing its error. */
async function* pump(read: (onLine: (l: LogLine) => void) => Promise<void>, done: () => void): AsyncGenerator<LogLine> {
  const queue: LogLine[] = [];
  let wake: (() => void) | undefined;
  // Set by the reader's callbacks, which TypeScript's flow analysis does not follow.
  const st: { finished: boolean; failure: Error | undefined } = { finished: false, failure: undefined };
  const reading = read((l) => {
    queue.push(l);
    wake?.();
  }).then(
    () => {
      st.finished = true;
      wake?.();
    },
    (e: unknown) => {
      st.failure = e instanceof Error ? e : new Error(String(e));
      st.finished = true;
      wake?.();
    },
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (st.finished) break;
      await new Promise<void>((r) => {
        wake = r;
      });
      wake = undefined;
    }
    await reading;
    if (st.failure !== undefined) throw st.failure;
  } finally {
    done();
  }
}
