/**
 * submit: operator — the Spark application as a SparkApplication resource, run by the Kubernetes
 * Spark operator in the cluster. Nothing runs on this machine: ferry creates the resource through
 * the API server of the kubeconfig (found as kubectl finds it, in-cluster too), watches it (one
 * watch, resumed and re-read on 410 Gone like the Job's), reads the driver pod the operator
 * creates for its exit code and log, and cancels by deleting the SparkApplication (the operator's
 * driver pod is owned by it, and the executors by the driver pod, so all of them go).
 */
import path from 'node:path';
import type { RunContext } from '../../core/context.js';
import { configError, dataError, interruptedError, unavailableError } from '../../core/errors.js';
import { newRunId } from '../../core/run-id.js';
import type { CancelOutcome, DeployInput, Handle, LogLine, LogOptions, Plan, RunStatus, WaitCallbacks } from '../../core/target.js';
import { abortableSleep } from '../../infra/sleep.js';
import { LOG_RESUMES, newLogMark } from '../../core/log-resume.js';
import { clusterOfHandle, readLog, withoutPunycodeWarning } from '../kubernetes-job/adapter.js';
import { assertSameRun, createOrFollow } from '../kubernetes-job/apply.js';
import { followObject } from '../kubernetes-job/follow.js';
import { loadCluster, type KubeApi, type KubeCluster, type Obj } from '../kubernetes-job/client.js';
import { podRunStatus, type PodView } from './kube.js';
import { SPARK_APPLICATION, sparkApplicationManifest, type SparkAppManifest } from './operator-manifest.js';
import type { SparkTargetConfig } from './schema.js';
import { problemAt } from './submit.js';

type Input = DeployInput<SparkTargetConfig>;

const KIND = SPARK_APPLICATION;
/** The container Spark gives the driver in its pod (a pod template may name another). */
const DRIVER_CONTAINER = 'spark-kubernetes-driver';

function clusterFor(input: Input, ctx: RunContext): KubeCluster {
  const kc = input.config.kubernetes;
  return loadCluster(
    { kubeconfig: kc?.kubeconfig, context: kc?.context, namespace: kc?.namespace ?? 'default' },
    { file: input.file, target: input.target, locate: input.locate, keyPrefix: ['kubernetes'], debug: (l) => { ctx.reporter.debug(l); } },
    ctx.env,
    path.dirname(path.resolve(ctx.cwd, input.file)),
  );
}

/** `k8s://HOST:PORT` and `k8s://https://HOST:PORT/` as one URL, for comparing with the kubeconfig's server. */
function serverOf(master: string): string {
  const rest = master.replace(/^k8s:\/\//, '');
  return sameServer(/^https?:\/\//.test(rest) ? rest : `https://${rest}`);
}

/** A server URL without its trailing / and default port, lowercased. */
function sameServer(url: string): string {
  return url.replace(/\/+$/, '').toLowerCase().replace(/^(https:\/\/[^/]+):443$/, '$1').replace(/^(http:\/\/[^/]+):80$/, '$1');
}

/** A k8s:// master given with submit: operator must name the cluster ferry talks to. */
function checkMaster(input: Input, cluster: KubeCluster): void {
  const m = input.config.master;
  if (m === undefined || serverOf(m) === sameServer(cluster.server)) return;
  throw problemAt(input, 'SPARK_MASTER_INVALID', 'master', `master ${m} is not the API server of the kubeconfig's context ${cluster.context} (${cluster.server}), where submit: operator creates the SparkApplication`, [
    'leave master out (the kubeconfig decides), or set kubernetes.context to the context of that cluster',
  ]);
}

async function validate(m: SparkAppManifest, input: Input): Promise<void> {
  const { sparkApplicationProblems } = await withoutPunycodeWarning(() => import('./operator-validate.js'));
  const problems = sparkApplicationProblems(m.app);
  if (problems.length === 0) return;
  throw configError('K8S_MANIFEST_INVALID', `the SparkApplication ${m.name} ferry made for target ${input.target} does not pass the schema: ${problems.slice(0, 5).join('; ')}`, {
    where: `${input.file} (targets.${input.target})`,
    details: { problems },
    suggestions: ['fix the value named in ferry.yaml; `ferry plan` prints the manifest'],
  });
}

/** The checks a plan can make by reading: the operator's resource is served, the namespace exists. */
async function checkCluster(api: KubeApi, input: Input, cluster: KubeCluster): Promise<void> {
  const served = await api.apiResources(KIND.group, KIND.version);
  if (served === undefined || !served.includes(KIND.plural)) {
    throw unavailableError('SPARK_OPERATOR_NOT_INSTALLED', `the cluster at ${cluster.server} (context ${cluster.context}) does not serve ${KIND.plural}.${KIND.group}/${KIND.version}: the Kubernetes Spark operator is not installed`, {
      where: `${input.file} (targets.${input.target}.submit)`,
      suggestions: ['install the Spark operator (kubeflow/spark-operator) in the cluster, or use submit: spark-submit with master: k8s://…'],
    });
  }
  if ((await api.namespaceExists(cluster.namespace)) === false) {
    throw configError('K8S_NAMESPACE_NOT_FOUND', `namespace ${cluster.namespace} does not exist in the cluster at ${cluster.server}`, {
      where: `${input.locate?.(['targets', input.target, 'kubernetes', 'namespace']) ?? input.file} (targets.${input.target}.kubernetes.namespace)`,
      suggestions: ['create it (`kubectl create namespace ' + cluster.namespace + '`), or name an existing one'],
    });
  }
}

export function operatorCheck(input: Input, render: boolean, ctx: RunContext): void {
  const ns = input.config.kubernetes?.namespace ?? 'default';
  sparkApplicationManifest(input, ns, ctx.env);
  if (render) return;
  // The kubeconfig and context are read from disk now, so a wrong one fails before the build.
  checkMaster(input, clusterFor(input, ctx));
}

export async function operatorRender(input: Input, ctx: RunContext): Promise<Obj[]> {
  const m = sparkApplicationManifest(input, input.config.kubernetes?.namespace ?? 'default', ctx.env);
  await validate(m, input);
  return [m.app];
}

export async function operatorPlan(input: Input, ctx: RunContext): Promise<Plan> {
  const cluster = clusterFor(input, ctx);
  checkMaster(input, cluster);
  const ns = cluster.namespace;
  const m = sparkApplicationManifest(input, ns, ctx.env);
  await validate(m, input);
  await checkCluster(cluster.api, input, cluster);
  const kc = input.config.kubernetes;
  return {
    target: input.target,
    type: 'spark',
    image: input.image,
    requests: [{ service: 'kubernetes', action: `create SparkApplication ${ns}/${m.name}`, payload: m.app }],
    notes: [
      `cluster ${cluster.server} (context ${cluster.context}, from ${cluster.source}), namespace ${ns}`,
      `the Spark operator runs the application: its driver pod (${m.name}-driver) and executors use the image pinned by digest; nothing runs on this machine`,
      `the SparkApplication is named ${m.name}: the same inputs give the same name, so a retried deploy follows the one it made`,
      ...(kc?.imagePullSecrets.length ? [] : ['no kubernetes.imagePullSecrets: the nodes must be able to pull the image as they are']),
      ...m.notes,
      'deploy watches the SparkApplication until it is COMPLETED or FAILED, follows the driver pod\'s log, and exits with the driver\'s exit code',
    ],
    manifests: [m.app],
  };
}

export async function operatorDeploy(input: Input, ctx: RunContext): Promise<Handle> {
  const cluster = clusterFor(input, ctx);
  checkMaster(input, cluster);
  const ns = cluster.namespace;
  const deployId = newRunId();
  const m = sparkApplicationManifest(input, ns, ctx.env, deployId);
  await validate(m, input);
  if (ctx.signal?.aborted === true) throw interruptedError(ctx.signal.reason, `creating SparkApplication ${m.name}`);
  const api = cluster.api;
  await checkTemplatesKept(api, ns, m, input);
  const { obj, adopted } = await createOrFollow(
    {
      kind: KIND.kind,
      kubectlKind: 'sparkapplication',
      namespace: ns,
      name: m.name,
      hash: m.hash,
      create: () => api.createCustom(KIND, ns, m.app),
      read: () => api.readCustom(KIND, ns, m.name),
      remove: async () => {
        const old = await api.readCustom(KIND, ns, m.name);
        if (old !== undefined) await removeApp(api, ns, m.name, old, ctx);
      },
      ended: (o) => appEnded(o),
      code: 'SPARK_APP_CONFLICT',
      where: `${input.locate?.(['targets', input.target, 'name']) ?? input.file} (targets.${input.target}.name)`,
    },
    ctx,
  );
  const labels = ((obj['metadata'] ?? {}) as { labels?: Record<string, string> }).labels ?? {};
  const id = adopted ? (labels['ferry/deploy-id'] ?? deployId) : deployId;
  if (!adopted) ctx.reporter.info(`created SparkApplication ${ns}/${m.name} (context ${cluster.context})`);
  const kubeconfig = input.config.kubernetes?.kubeconfig;
  return {
    id,
    target: input.target,
    type: 'spark',
    image: input.image.ref,
    createdAt: new Date().toISOString(),
    ref: {
      mode: 'operator',
      appName: m.name,
      namespace: ns,
      context: cluster.context,
      kubeconfig: kubeconfig === undefined ? '' : path.resolve(path.dirname(path.resolve(ctx.cwd, input.file)), kubeconfig),
      server: cluster.server,
      config: input.file,
      uid: ((obj['metadata'] ?? {}) as { uid?: string }).uid ?? '',
    },
  };
}

/** How long ferry waits for an old driver pod to go before it creates the application again. */
const POD_GONE_WAIT_MS = 60_000;

/**
 * Deletes the application (only this one: the uid precondition) and its driver pod. The pod is
 * deleted by ferry too: it is owned by the application only where the operator (or, before
 * 2.2, its webhook) set that owner reference, and without it the driver would run on. Spark's
 * executors are owned by the driver pod, so they go with it. With `waitForPod`, ferry waits until
 * the pod is gone: the operator names the next run's driver pod the same, and refuses to submit
 * while the old one is there ("driver pod already exist").
 */
async function removeApp(api: KubeApi, ns: string, name: string, app: Obj, ctx: RunContext, waitForPod = true): Promise<boolean> {
  const uid = ((app['metadata'] ?? {}) as { uid?: string }).uid;
  const deleted = await api.deleteCustom(KIND, ns, name, uid);
  const podName = driverPodOf(app, name);
  const pod = (await api.readPod(ns, podName)) as (PodView & { metadata?: { labels?: Record<string, string>; ownerReferences?: { uid?: string }[] } }) | undefined;
  // The application's own driver pod: the operator's label, and no owner but this application.
  const ours = pod !== undefined && pod.metadata?.labels?.['sparkoperator.k8s.io/app-name'] === name && (pod.metadata.ownerReferences ?? []).every((o) => o.uid === uid);
  if (ours) await api.deletePod(ns, podName);
  if (waitForPod && ours) {
    const until = Date.now() + POD_GONE_WAIT_MS;
    while (Date.now() < until && (await api.readPod(ns, podName)) !== undefined) await abortableSleep(500, ctx.signal);
  }
  return deleted;
}

/**
 * Pod templates (and job.timeout, which rides on the driver's) are spec.driver/executor.template,
 * which the operator's CRD has from 2.1 on. An older CRD's API server drops an unknown field
 * without an error, so a server-side dry run (nothing is stored) shows whether it would be kept.
 */
async function checkTemplatesKept(api: KubeApi, ns: string, m: SparkAppManifest, input: Input): Promise<void> {
  const templateOf = (app: Obj, role: string): unknown => ((((app['spec'] ?? {}) as Obj)[role] ?? {}) as Obj)['template'];
  const roles = ['driver', 'executor'].filter((r) => templateOf(m.app, r) !== undefined);
  if (roles.length === 0) return;
  const dry = await api.createCustom(KIND, ns, m.app, { dryRun: true });
  // Already there: the same spec ran before, when this check passed.
  if (dry === 'exists') return;
  const dropped = roles.filter((r) => templateOf(dry, r) === undefined);
  if (dropped.length === 0) return;
  const what = input.job.timeout !== undefined && dropped.includes('driver') ? 'job.timeout and the pod templates' : 'the pod templates';
  throw unavailableError('SPARK_OPERATOR_TOO_OLD', `the cluster's SparkApplication resource has no ${dropped.map((r) => `spec.${r}.template`).join(' or ')}: its Spark operator is older than 2.1, and ${what} would be dropped without a word`, {
    where: `${input.file} (targets.${input.target}.submit)`,
    suggestions: ['upgrade the Spark operator (kubeflow/spark-operator) to 2.1 or newer', `or remove ${input.job.timeout !== undefined ? 'job.timeout and ' : ''}kubernetes.driverPodTemplate / executorPodTemplate`],
  });
}

interface AppStatus {
  applicationState?: { state?: string; errorMessage?: string };
  driverInfo?: { podName?: string };
}

const appStatusOf = (app: Obj): AppStatus => (app['status'] ?? {});
const stateOf = (app: Obj): string => appStatusOf(app).applicationState?.state ?? '';

/** COMPLETED, FAILED and SUBMISSION_FAILED are final with restartPolicy Never (ferry's). */
export function appEnded(app: Obj): boolean {
  return ['COMPLETED', 'FAILED', 'SUBMISSION_FAILED'].includes(stateOf(app));
}

/** The operator's name for the driver pod, before its status says it. */
const driverPodOf = (app: Obj, name: string): string => appStatusOf(app).driverInfo?.podName ?? `${name}-driver`;

/**
 * The run's status from the SparkApplication's applicationState, with the driver pod's exit code
 * and, while the application waits, the pod's stuck reason (ImagePullBackOff, Unschedulable).
 */
export function appRunStatus(app: Obj, pod: PodView | undefined, now = Date.now()): RunStatus {
  const state = stateOf(app);
  const message = appStatusOf(app).applicationState?.errorMessage;
  const driver = pod === undefined ? undefined : podRunStatus(pod);
  // job.timeout is the driver pod's activeDeadlineSeconds: the kubelet kills the pod, and the
  // operator reports only the container's exit code.
  const overdue = (pod?.status as { reason?: string } | undefined)?.reason === 'DeadlineExceeded';
  switch (state) {
    case 'COMPLETED':
      return { state: 'succeeded', phase: state, exitCode: driver?.exitCode ?? 0 };
    case 'FAILED':
    case 'SUBMISSION_FAILED': {
      const said = message !== undefined && message !== '' ? message : (driver?.reason ?? state);
      const reason = overdue ? `job.timeout exceeded: the driver pod was active longer than its activeDeadlineSeconds (${said})` : said;
      return { state: 'failed', phase: state, ...(driver?.exitCode !== undefined && driver.exitCode !== 0 ? { exitCode: driver.exitCode } : {}), reason };
    }
    case 'RUNNING':
    case 'SUCCEEDING':
    case 'FAILING':
    case 'UNKNOWN':
      return { state: 'running', phase: state };
    default: {
      // '' (new), SUBMITTED, PENDING_RERUN, INVALIDATING: the driver has not started.
      const phase = state === '' ? 'NEW' : state;
      const created = Date.parse(String(((app['metadata'] ?? {}) as { creationTimestamp?: string | Date }).creationTimestamp ?? ''));
      if (state === '' && Number.isFinite(created) && now - created > UNPICKED_MS) {
        const ns = ((app['metadata'] ?? {}) as { namespace?: string }).namespace ?? '';
        return { state: 'pending', phase, reason: `the Spark operator has not picked the application up after ${String(Math.round((now - created) / 1000))} s: is it running, and does it watch namespace ${ns} (its spark.jobNamespaces)?` };
      }
      if (driver?.state === 'pending' && driver.reason !== undefined) return { state: 'pending', phase: `${phase}: driver pod ${driver.phase ?? 'Pending'}`, reason: driver.reason };
      return { state: 'pending', phase };
    }
  }
}

function refOf(h: Handle): { ns: string; name: string } {
  return { ns: h.ref['namespace'] ?? 'default', name: h.ref['appName'] ?? '' };
}

/** How long a new application may wait for the operator before ferry says so. */
const UNPICKED_MS = 15_000;

const gone = (ns: string, name: string): RunStatus => ({ state: 'cancelled', phase: 'Deleted', reason: `SparkApplication ${ns}/${name} was deleted` });

async function driverPod(api: KubeApi, ns: string, app: Obj, name: string): Promise<PodView | undefined> {
  return (await api.readPod(ns, driverPodOf(app, name)));
}

export async function operatorStatus(h: Handle, ctx: RunContext): Promise<RunStatus> {
  const { api } = clusterOfHandle(h, ctx);
  const { ns, name } = refOf(h);
  const app = await api.readCustom(KIND, ns, name);
  // `ferry cancel` deletes the SparkApplication: one that is gone was cancelled (by ferry or kubectl).
  if (app === undefined) return gone(ns, name);
  assertSameRun(h, app, KIND.kind);
  const state = stateOf(app);
  const pod = state === '' ? undefined : await driverPod(api, ns, app, name);
  return appRunStatus(app, pod);
}

/** Driver pod checks while the application waits: 2 s, doubling to 30 s. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** Not narrowed by TypeScript: the signal changes between awaits. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

/**
 * One watch of the SparkApplication until it ends: resumed from the last resourceVersion when the
 * stream ends, re-read after 410 Gone, paced when watches fail at once. While the driver has not
 * started, its pod is looked at now and then (the application's state does not change when the
 * pod is stuck pulling its image or unschedulable).
 */
export async function operatorWait(h: Handle, cb: WaitCallbacks, ctx: RunContext): Promise<RunStatus> {
  const { api } = clusterOfHandle(h, ctx);
  const { ns, name } = refOf(h);
  const first = await api.readCustom(KIND, ns, name);
  if (first === undefined) {
    const s = gone(ns, name);
    cb.onChange(s);
    return s;
  }
  assertSameRun(h, first, KIND.kind);
  // Shared with the watch callback and the pod checks, which change it between awaits.
  const w = { app: first, pod: undefined as PodView | undefined, last: { state: 'pending' } as RunStatus, lastKey: '' };
  const report = (): void => {
    const s = appRunStatus(w.app, w.pod);
    w.last = s;
    const k = `${s.state}/${s.phase ?? ''}/${s.reason ?? ''}`;
    if (k !== w.lastKey) cb.onChange(s);
    w.lastKey = k;
  };
  report();
  const end = await followObject({
    kind: KIND.kind,
    name,
    first,
    read: () => api.readCustom(KIND, ns, name),
    watch: (rv, onEvent, signal) => api.watchCustom(KIND, ns, name, rv, onEvent, signal),
    ended: appEnded,
    signal: cb.signal,
    sleep: abortableSleep,
    debug: (l) => {
      ctx.reporter.debug(l);
    },
    onObject: (app) => {
      w.app = app;
      report();
    },
    // While the driver has not started, look at its pod now and then (2 s, doubling to 30 s).
    beside: async (signal) => {
      let delay = 2 * RETRY_FIRST_MS;
      while (!signal.aborted) {
        await abortableSleep(delay, signal).catch(() => undefined);
        if (isAborted(signal)) break;
        if (w.last.state === 'pending') {
          try {
            if (stateOf(w.app) !== '') w.pod = await driverPod(api, ns, w.app, name);
            report();
          } catch (e) {
            ctx.reporter.debug(`reading the driver pod: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        delay = Math.min(RETRY_MAX_MS, delay * 2);
      }
    },
  });
  if (end.how === 'deleted' || end.how === 'vanished') {
    const s = gone(ns, name);
    cb.onChange(s);
    return s;
  }
  if (end.how === 'interrupted') return w.last;
  // The driver's exit code, from its pod as it ended.
  w.pod = await driverPod(api, ns, w.app, name);
  report();
  return w.last;
}

/** The driver container's name in its pod: Spark's own, unless a pod template named it. */
function driverContainer(pod: PodView): string {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  return names.includes(DRIVER_CONTAINER) ? DRIVER_CONTAINER : (names[0] ?? DRIVER_CONTAINER);
}

/**
 * The driver pod's log. Following, it waits for the operator to create the pod and for the driver
 * to start, and reads on from where a cut stream stopped while the driver runs.
 */
export async function* operatorLogs(h: Handle, opts: LogOptions, ctx: RunContext): AsyncGenerator<LogLine> {
  const { api } = clusterOfHandle(h, ctx);
  const { ns, name } = refOf(h);
  const signal = ctx.signal;
  const seen = { ended: false };
  void opts.ended?.then(() => {
    seen.ended = true;
  });
  let pod: PodView | undefined;
  let podName: string;
  for (let delay = 500; ; delay = Math.min(5000, delay * 2)) {
    const app = await api.readCustom(KIND, ns, name);
    if (app === undefined) {
      throw dataError('SPARK_RUN_NOT_FOUND', `SparkApplication ${ns}/${name} (run ${h.id}) no longer exists: its driver's log went with it`, {
        details: { namespace: ns, name },
        suggestions: ['deleted by ferry cancel or kubectl; nothing is left to read'],
      });
    }
    assertSameRun(h, app, KIND.kind);
    podName = driverPodOf(app, name);
    pod = stateOf(app) === '' ? undefined : ((await api.readPod(ns, podName)));
    const started = pod !== undefined && podRunStatus(pod).state !== 'pending';
    if (started) break;
    if (!opts.follow || isAborted(signal) || seen.ended || appEnded(app)) {
      if (pod === undefined) ctx.reporter.warn(`SparkApplication ${ns}/${name} has no driver pod${appEnded(app) ? '' : ' yet'}: no log to read`);
      return;
    }
    await abortableSleep(delay, signal).catch(() => undefined);
  }
  if (pod === undefined) return;
  const container = driverContainer(pod);
  const mark = newLogMark();
  for (let resumes = 0; ; resumes++) {
    yield* readLog(api, ns, podName, opts.follow, signal, mark, container);
    if (!opts.follow || isAborted(signal) || resumes >= LOG_RESUMES) return;
    // A followed stream can end while the driver still runs (an API server restart, a proxy's
    // idle timeout): read on from the last line's timestamp.
    const now = (await api.readPod(ns, podName)) as PodView | undefined;
    if (now === undefined || podRunStatus(now).state !== 'running') return;
    ctx.reporter.debug(`the log stream of pod ${podName} ended while it runs: reading on from ${mark.time || 'its start'}`);
  }
}

export async function operatorCancel(h: Handle, ctx: RunContext): Promise<CancelOutcome> {
  const { api } = clusterOfHandle(h, ctx);
  const { ns, name } = refOf(h);
  const app = await api.readCustom(KIND, ns, name);
  if (app === undefined) return { action: 'none', before: 'cancelled', phase: 'Deleted' };
  assertSameRun(h, app, KIND.kind);
  const s = appRunStatus(app, undefined);
  const phase = s.phase !== undefined ? { phase: s.phase } : {};
  if (s.state === 'succeeded' || s.state === 'failed') return { action: 'none', before: s.state, ...phase };
  // The driver has ended and the operator is recording it: deleting now would only lose the result.
  if (s.phase === 'SUCCEEDING' || s.phase === 'FAILING') return { action: 'none', before: s.state, ...phase };
  if (!(await removeApp(api, ns, name, app, ctx, false))) return { action: 'none', before: 'cancelled', phase: 'Deleted' };
  return { action: 'delete SparkApplication', before: s.state, ...phase };
}

