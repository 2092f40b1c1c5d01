/**
 * k8s:// masters: spark-submit (in the image, in a container on this machine) creates the driver
 * pod, named by ferry, and returns (spark.kubernetes.submission.waitAppCompletion=false). From then
 * on the run is that pod, read through the Kubernetes API with the same kubeconfig: status is its
 * phase and the driver container's exit code, logs are its log, and cancel deletes it (Spark's
 * executors are owned by the driver pod, so Kubernetes removes them with it).
 *
 * This is the only file of the Spark target that imports @kubernetes/client-node.
 */
import { Writable } from 'node:stream';
import { ApiException, CoreV1Api, KubeConfig, Log, type V1Pod } from '@kubernetes/client-node';
import type { RunContext } from '../../core/context.js';
import { authError, dataError, FerryError, unavailableError } from '../../core/errors.js';
import type { CancelOutcome, Handle, LogLine, LogOptions, RunStatus } from '../../core/target.js';
import type { ContainerRun, LocalEngine } from '../local/engine.js';
import { LOG_RESUMES, newLogMark, resumeFilter, sinceTimeOf, type LogMark } from '../../core/log-resume.js';
import type { SparkSubmit } from './submit.js';

/** The container Spark gives the driver in its pod (Spark's Constants.DEFAULT_DRIVER_CONTAINER_NAME). */
const DRIVER_CONTAINER = 'spark-kubernetes-driver';

/**
 * Runs spark-submit to its end (it returns once the driver pod exists): its output goes to stderr as
 * progress; a non-zero exit is SPARK_SUBMIT_FAILED with its last lines, and nothing was started.
 * Stopped by a signal, it returns when the driver pod exists all the same (the run was submitted),
 * and is INTERRUPTED when not.
 */
export async function submitToKubernetes(engine: LocalEngine, spec: ContainerRun, submit: SparkSubmit, ctx: RunContext): Promise<void> {
  const tail: string[] = [];
  const keep = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      process.stderr.write(text);
      tail.push(...text.split('\n').filter((l) => l.trim() !== ''));
      if (tail.length > 20) tail.splice(0, tail.length - 20);
      cb();
    },
  });
  ctx.reporter.info(`running spark-submit (cluster mode, ${submit.master}) in ${spec.image.slice(0, 19)} on ${engine.address}`);
  // The spec has the private files already (private-files.ts: the kubeconfig copy, job.env's properties).
  const out = await engine.run(spec, { stdout: keep, stderr: keep, signal: ctx.signal });
  if (out.interrupted !== undefined) {
    // spark-submit may have created the driver pod before it was stopped: that run then goes on
    // (Spark does not delete it), so deploy returns its handle like any submitted run's, and the
    // deploy service detaches from it (printing ferry status/logs/cancel --id) or, with
    // --cancel-on-interrupt, cancels it, as on every remote target. Only a pod that is not there
    // means nothing was started.
    const k = submit.kubernetes;
    const exitCode = out.interrupted === 'SIGTERM' ? 143 : 130;
    const pod = k === undefined ? 'absent' : await driverPodAfterSubmit(k);
    if (pod === 'present' && k !== undefined) {
      ctx.reporter.warn(`spark-submit was stopped (${out.interrupted}) after it had created driver pod ${k.namespace}/${k.driverPod}, which runs`);
      return;
    }
    throw new FerryError('INTERRUPTED', `spark-submit was stopped (${out.interrupted}) before it created the driver pod${pod === 'unknown' && k !== undefined ? `, as far as ferry could tell: reading pod ${k.namespace}/${k.driverPod} failed` : ''}`, {
      exitCode,
      suggestions:
        pod === 'unknown' && k !== undefined
          ? [`check with \`kubectl -n ${k.namespace} get pod ${k.driverPod}\`, and delete it if it is there and unwanted`]
          : ['run the command again when you want it to go ahead'],
    });
  }
  if (out.exitCode !== 0) {
    throw unavailableError('SPARK_SUBMIT_FAILED', `spark-submit exited with ${String(out.exitCode)} before the driver pod ran:\n  ${tail.slice(-8).join('\n  ')}`, {
      details: { exitCode: out.exitCode },
      suggestions: ['read spark-submit\'s output above: an unreachable API server, a namespace or service account that does not exist, or RBAC refusing pods, configmaps or services', 'check the kubeconfig (kubernetes.kubeconfig) with `kubectl --kubeconfig FILE get pods`'],
    });
  }
  const k = submit.kubernetes;
  if (k !== undefined) ctx.reporter.info(`driver pod ${k.namespace}/${k.driverPod} created`);
}

/** Whether the driver pod spark-submit was to create exists (unknown when the API does not say). */
async function driverPodAfterSubmit(k: NonNullable<SparkSubmit['kubernetes']>): Promise<'present' | 'absent' | 'unknown'> {
  const h: Handle = { id: k.driverPod, target: '', type: 'spark', image: '', createdAt: '', ref: { driverPod: k.driverPod, namespace: k.namespace, kubeconfig: k.kubeconfig, ...(k.context === undefined ? {} : { context: k.context }) } };
  try {
    await readPod(h);
    return 'present';
  } catch (e) {
    return e instanceof FerryError && e.code === 'SPARK_RUN_NOT_FOUND' ? 'absent' : 'unknown';
  }
}

function clientFor(h: Handle): { kc: KubeConfig; core: CoreV1Api; namespace: string; pod: string } {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(h.ref['kubeconfig'] ?? '');
  } catch (e) {
    throw new FerryError('SPARK_KUBECONFIG_NOT_FOUND', `cannot read the kubeconfig ${h.ref['kubeconfig'] ?? ''} the run was submitted with`, {
      exitCode: 78,
      cause: e,
      suggestions: ['ferry status/logs/cancel use the kubeconfig of the deploy; put it back, or follow the pod with kubectl'],
    });
  }
  const context = h.ref['context'];
  if (context !== undefined) kc.setCurrentContext(context);
  return { kc, core: kc.makeApiClient(CoreV1Api), namespace: h.ref['namespace'] ?? 'default', pod: h.ref['driverPod'] ?? '' };
}

function kubeError(e: unknown, what: string): FerryError {
  if (e instanceof FerryError) return e;
  const code = e instanceof ApiException ? e.code : undefined;
  if (code === 401 || code === 403) {
    return authError('SPARK_KUBERNETES_DENIED', `Kubernetes refused to ${what} (${String(code)})`, { cause: e, suggestions: ['the kubeconfig\'s user needs get, list and delete on pods and get on pods/log in the namespace'] });
  }
  return unavailableError('SPARK_KUBERNETES_UNAVAILABLE', `could not ${what}: ${code === undefined ? (e instanceof Error ? e.message : String(e)) : `HTTP ${String(code)}`}`, {
    cause: e,
    suggestions: ['check that the API server in the kubeconfig answers (`kubectl get pods`)'],
  });
}

async function readPod(h: Handle): Promise<V1Pod> {
  const { core, namespace, pod } = clientFor(h);
  try {
    return await core.readNamespacedPod({ name: pod, namespace });
  } catch (e) {
    if (e instanceof ApiException && e.code === 404) {
      throw dataError('SPARK_RUN_NOT_FOUND', `there is no driver pod ${namespace}/${pod} (run ${h.id}): it was deleted`, {
        details: { namespace, pod },
        suggestions: ['a deleted driver pod cannot be read any more; Spark keeps ended driver pods unless something deletes them'],
      });
    }
    throw kubeError(e, `read pod ${namespace}/${pod}`);
  }
}

/** What ferry reads of a pod (V1Pod has it; a plain object in tests). */
export interface PodView {
  metadata?: { deletionTimestamp?: Date | undefined } | undefined;
  spec?: { containers: { name: string }[] } | undefined;
  status?:
    | {
        phase?: string | undefined;
        reason?: string | undefined;
        message?: string | undefined;
        conditions?: { status: string; reason?: string | undefined }[] | undefined;
        containerStatuses?:
          | { name: string; state?: { terminated?: { exitCode: number; reason?: string | undefined } | undefined; waiting?: { reason?: string | undefined; message?: string | undefined } | undefined } | undefined }[]
          | undefined;
      }
    | undefined;
}

/**
 * The driver's container: Spark's default name, unless a pod template named it (Spark keeps a
 * template container's name); then the first container, where Spark puts the driver.
 */
function driverContainerOf(pod: PodView): string {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  return names.includes(DRIVER_CONTAINER) ? DRIVER_CONTAINER : (names[0] ?? DRIVER_CONTAINER);
}

/** The driver pod's phase, with the driver container's exit code once it has ended. */
export function podRunStatus(pod: PodView): RunStatus {
  const phase = pod.status?.phase ?? 'Pending';
  const name = driverContainerOf(pod);
  const container = pod.status?.containerStatuses?.find((c) => c.name === name) ?? pod.status?.containerStatuses?.[0];
  const terminated = container?.state?.terminated;
  const waiting = container?.state?.waiting;
  if (phase === 'Succeeded') return { state: 'succeeded', phase, exitCode: terminated?.exitCode ?? 0 };
  if (phase === 'Failed') {
    const exitCode = terminated?.exitCode;
    return { state: 'failed', phase, ...(exitCode === undefined ? {} : { exitCode }), reason: terminated?.reason ?? pod.status?.reason ?? pod.status?.message ?? 'Failed' };
  }
  if (pod.metadata?.deletionTimestamp !== undefined) return { state: 'cancelled', phase: 'Terminating' };
  // A sidecar from a pod template keeps the pod Running after the driver has ended: the driver
  // container's own end decides.
  if (terminated !== undefined) return terminated.exitCode === 0 ? { state: 'succeeded', phase: 'DriverCompleted', exitCode: 0 } : { state: 'failed', phase: 'DriverFailed', exitCode: terminated.exitCode, reason: terminated.reason ?? 'Error' };
  if (phase === 'Running') return { state: 'running', phase };
  const why = waiting?.reason ?? pod.status?.conditions?.find((c) => c.status === 'False')?.reason;
  return { state: 'pending', phase: why === undefined ? phase : `${phase} (${why})`, ...(why === undefined ? {} : { reason: waiting?.message ?? why }) };
}

export async function podStatus(h: Handle): Promise<RunStatus> {
  try {
    return podRunStatus(await readPod(h));
  } catch (e) {
    // `ferry cancel` deletes the driver pod: a run whose pod is gone was cancelled (by ferry,
    // kubectl or a cleanup), which a waiting deploy and a later status report as such.
    if (e instanceof FerryError && e.code === 'SPARK_RUN_NOT_FOUND') return { state: 'cancelled', phase: 'Deleted', reason: e.message };
    throw e;
  }
}

/**
 * The driver container's log; following, until the pod ends (or ferry is told it did). A followed
 * stream that ends (or breaks) while the driver still runs (an API server restart, a proxy's idle
 * timeout) is opened again from where it stopped, a few times, printing each line once: it is read
 * with timestamps, which say what an earlier read printed (core/log-resume.ts, as for Jobs).
 */
export async function podLogs(h: Handle, opts: LogOptions, ctx: RunContext, onLine: (l: LogLine) => void): Promise<void> {
  const { kc, namespace, pod } = clientFor(h);
  // The log endpoint refuses a pod whose container has not started: wait for it when following.
  let container: string;
  for (;;) {
    const current = await readPod(h);
    container = driverContainerOf(current);
    const s = podRunStatus(current);
    if (s.state !== 'pending') break;
    if (!opts.follow || ctx.signal?.aborted === true) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const mark = newLogMark();
  for (let resumes = 0; ; resumes++) {
    let failure: Error | undefined;
    try {
      await readPodLog(kc, namespace, pod, container, opts.follow, ctx.signal, mark, onLine);
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e));
    }
    if (ctx.signal?.aborted === true) return;
    if (failure instanceof FerryError && failure.code === 'SPARK_KUBERNETES_DENIED') throw failure;
    // Over (the container ended), or cut: only a driver that still runs has more to say.
    const now = opts.follow && resumes < LOG_RESUMES ? await readPod(h).catch(() => undefined) : undefined;
    if (now === undefined || podRunStatus(now).state !== 'running') {
      if (failure !== undefined) throw failure;
      return;
    }
    ctx.reporter.debug(`the log stream of pod ${namespace}/${pod} ${failure === undefined ? 'ended' : 'broke'} while the driver runs: reading on from ${mark.time || 'its start'}`);
  }
}

/** One read of the driver's log, with timestamps (stripped), printing only lines no earlier read printed. */
async function readPodLog(kc: KubeConfig, namespace: string, pod: string, container: string, follow: boolean, signal: AbortSignal | undefined, mark: LogMark, onLine: (l: LogLine) => void): Promise<void> {
  const since = sinceTimeOf(mark);
  const fresh = resumeFilter(mark);
  const emit = (raw: string): void => {
    const text = fresh(raw);
    if (text !== undefined) onLine({ stream: 'stdout', text });
  };
  let partial = '';
  let abort: AbortController | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      // client-node ends the sink when the server closes the stream.
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          const lines = (partial + chunk.toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const raw of lines) emit(raw);
          cb();
        },
        final(cb) {
          cb();
          resolve();
        },
      });
      sink.on('error', reject);
      // client-node keeps no error handler on the response body it pipes in: a broken stream (or
      // our abort) would otherwise be an unhandled error.
      sink.on('pipe', (source: NodeJS.ReadableStream) => {
        source.on('error', (e: unknown) => {
          if (signal?.aborted === true) resolve();
          else reject(kubeError(e, `read the log of pod ${namespace}/${pod}`));
        });
      });
      onAbort = (): void => {
        abort?.abort();
        resolve();
      };
      if (signal?.aborted === true) {
        resolve();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      new Log(kc)
        .log(namespace, pod, container, sink, { follow, timestamps: true, ...(since === undefined ? {} : { sinceTime: since }) })
        .then((ctl) => {
          abort = ctl;
          if (signal?.aborted === true) ctl.abort();
        })
        .catch((e: unknown) => {
          reject(kubeError(e, `read the log of pod ${namespace}/${pod}`));
        });
    });
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
  if (partial !== '') emit(partial);
}

/** Deletes the driver pod (Kubernetes then removes the executors it owns); nothing when it has ended. */
export async function deleteDriverPod(h: Handle): Promise<CancelOutcome> {
  const before = podRunStatus(await readPod(h));
  const phase = before.phase ?? before.state;
  if (before.state === 'succeeded' || before.state === 'failed' || before.state === 'cancelled') return { action: 'none', before: before.state, phase };
  const { core, namespace, pod } = clientFor(h);
  try {
    await core.deleteNamespacedPod({ name: pod, namespace });
  } catch (e) {
    if (e instanceof ApiException && e.code === 404) return { action: 'none', before: before.state, phase };
    throw kubeError(e, `delete pod ${namespace}/${pod}`);
  }
  return { action: 'delete driver pod', before: before.state, phase };
}
