/**
 * The Kubernetes Job adapter. plan reads only (namespace, referenced Secrets and ConfigMaps);
 * deploy checks those, validates every manifest against the official schema, creates or updates the
 * image pull Secret, and creates the Job. Waiting is one watch on the Job (resumed from its last
 * resourceVersion, re-read on 410 Gone); pods are listed only while none runs yet (to report
 * ImagePullBackOff or Unschedulable early) and when the Job's counts change (exit codes, reasons).
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { silentReporter, type RunContext } from '../../core/context.js';
import { configError, FerryError, interruptedError, tempError, unavailableError, usageError } from '../../core/errors.js';
import { parseImageRef } from '../../core/image-ref.js';
import { newRunId } from '../../core/run-id.js';
import { LOG_RESUMES, newLogMark, resumeFilter, sinceTimeOf, type LogMark } from '../../core/log-resume.js';
import type { CancelOutcome, DeployInput, Handle, LogLine, LogOptions, Plan, PlannedRequest, RunStatus } from '../../core/target.js';
import { abortableSleep } from '../../infra/sleep.js';
import type { RemoteAdapter, RemoteTargetConfig } from '../index.js';
import { assertSameRun, createOrFollow } from './apply.js';
import { followObject } from './follow.js';
import { loadCluster, type KubeApi, type KubeCluster, type KubeWhere } from './client.js';
import { CONTAINER, defaultPullSecretName, jobManifest, MANAGED_BY, ManifestInputError, pullSecretManifest, type JobManifest, type Obj } from './manifest.js';
import type { KubernetesJobTargetConfig } from './schema.js';
import { byCreation, CONTROLLER_UID_LABEL, createFailureSelector, jobEnded, JOB_NAME_LABEL, podView, runStatusOf, withCreateFailure, type PodView } from './status.js';

type Input = DeployInput<RemoteTargetConfig>;

/** Tests (and only tests) replace the sleep. */
export interface KubeDeps {
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}
const deps: KubeDeps = {};
export function setKubeDeps(d: KubeDeps): void {
  Object.assign(deps, d);
}
const sleep = (ms: number, signal?: AbortSignal): Promise<void> => (deps.sleep ?? abortableSleep)(ms, signal);

function k8sConfig(input: Input): KubernetesJobTargetConfig {
  if (input.config.type !== 'kubernetes-job') throw new FerryError('INTERNAL', `the kubernetes-job adapter got a ${input.config.type} target`);
  return input.config;
}

function whereOf(input: Input, ctx?: RunContext): KubeWhere {
  return { file: input.file, target: input.target, locate: input.locate, ...(ctx === undefined ? {} : { debug: (l: string) => { ctx.reporter.debug(l); } }) };
}

/** The cluster, found once per command (the kubeconfig is read from disk; no request yet). */
function clusterOf(input: Input, ctx: RunContext): KubeCluster {
  const config = k8sConfig(input);
  return loadCluster({ kubeconfig: config.kubeconfig, context: config.context, namespace: config.namespace }, whereOf(input, ctx), ctx.env, path.dirname(path.resolve(ctx.cwd, input.file)));
}

/** The cluster a run's handle names; K8S_CLUSTER_CHANGED when the kubeconfig now points elsewhere. */
export function clusterOfHandle(h: Handle, ctx: RunContext): KubeCluster {
  const r = h.ref;
  const where: KubeWhere = { file: r['config'] ?? 'ferry.yaml', target: h.target, debug: (l) => { ctx.reporter.debug(l); } };
  const cluster = loadClusterOfHandle(h, where, ctx);
  // Job names are deterministic: the same name in another cluster is another run, which status,
  // logs and above all cancel must not touch.
  if (r['server'] !== undefined && r['server'] !== '' && cluster.server !== r['server']) {
    throw configError('K8S_CLUSTER_CHANGED', `run ${h.id} ran on the cluster at ${r['server']}, but context ${cluster.context} now points at ${cluster.server}`, {
      where: `--id ${h.id}`,
      suggestions: ['point KUBECONFIG (or the context) back at the cluster the run was deployed to'],
    });
  }
  return cluster;
}

function loadClusterOfHandle(h: Handle, where: KubeWhere, ctx: RunContext): KubeCluster {
  const r = h.ref;
  return loadCluster(
    { kubeconfig: r['kubeconfig'] === '' ? undefined : r['kubeconfig'], context: r['context'] === '' || r['context'] === 'in-cluster' ? undefined : r['context'], namespace: r['namespace'] },
    where,
    ctx.env,
    ctx.cwd,
  );
}

/** The Job for this input, or a coded config error naming the key. */
function manifestFor(input: Input, namespace: string, pullSecret: string | undefined, deployId?: string): JobManifest {
  const config = k8sConfig(input);
  try {
    return jobManifest({ target: input.target, config, namespace, image: input.image.ref, imageEntrypoint: input.imageEntrypoint, job: input.job, each: input.each, pullSecret }, deployId);
  } catch (e) {
    if (!(e instanceof ManifestInputError)) throw e;
    if (e.key === '--each') throw usageError('USAGE_EACH_TOO_LARGE', e.message, { where: input.each?.source ?? '--each', suggestions: [e.hint] });
    const at = input.locate?.(e.key.split('.'));
    throw configError('K8S_CONFIG_INVALID', `${e.message} (target ${input.target}, type kubernetes-job)`, { where: `${at ?? input.file} (${e.key})`, cause: e, suggestions: [e.hint] });
  }
}

/** Schema check of everything ferry would send: nothing is created when one fails. */
async function validate(manifests: Obj[], input: Input): Promise<void> {
  const { schemaProblems } = await withoutPunycodeWarning(() => import('./validate.js'));
  for (const m of manifests) {
    const problems = schemaProblems(m);
    if (problems.length === 0) continue;
    const meta = (m['metadata'] ?? {}) as { name?: string };
    // The ferry.yaml key the first wrong field came from, where one key maps to it.
    const key = keyOfField(problems[0] ?? '');
    const keyPath = key === undefined ? ['targets', input.target] : ['targets', input.target, key];
    throw configError('K8S_MANIFEST_INVALID', `the ${String(m['kind'])} ${meta.name ?? ''} ferry made for target ${input.target} does not pass the Kubernetes schema: ${problems.slice(0, 5).join('; ')}`, {
      where: `${input.locate?.(keyPath) ?? input.file} (${keyPath.join('.')})`,
      details: { problems },
      suggestions: ['fix the value named in ferry.yaml; `ferry plan` prints the manifest'],
    });
  }
}

/** The target key a Job field comes from verbatim (the values ferry.yaml gives as they are). */
const FIELD_KEYS: [RegExp, string][] = [
  [/^spec\.template\.spec\.containers\[0\]\.securityContext\b/, 'securityContext'],
  [/^spec\.template\.spec\.securityContext\b/, 'podSecurityContext'],
  [/^spec\.template\.spec\.tolerations\b/, 'tolerations'],
  [/^spec\.template\.spec\.nodeSelector\b/, 'nodeSelector'],
  [/^spec\.template\.spec\.containers\[0\]\.resources\b/, 'resources'],
];

function keyOfField(problem: string): string | undefined {
  return FIELD_KEYS.find(([re]) => re.test(problem))?.[1];
}

/**
 * kubernetes-models' validators load ajv-formats-draft2019, which requires Node's deprecated
 * `punycode` module; Node would print a DeprecationWarning (DEP0040) on every deploy, which is
 * noise for a ferry user. Only that one warning is dropped, only while the validators load.
 */
export async function withoutPunycodeWarning<T>(load: () => Promise<T>): Promise<T> {
  const emit = process.emitWarning.bind(process) as (w: string | Error, ...r: unknown[]) => void;
  const original = Object.getOwnPropertyDescriptor(process, 'emitWarning');
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = rest.find((r) => typeof r === 'string' && r.startsWith('DEP')) ?? (typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : undefined);
    if (code === 'DEP0040') return;
    emit(warning, ...rest);
  });
  try {
    return await load();
  } finally {
    if (original !== undefined) Object.defineProperty(process, 'emitWarning', original);
  }
}

interface PullSecretPlan {
  name: string;
  /** ferry.yaml's imagePullSecret key (or the target), for errors. */
  where: string;
  registry: string;
  /** The Secret with the credential (deploy only; never printed). */
  secret: Obj;
  source: string;
}

/** The pull Secret ferry would create or update, when it has credentials for the image's registry. */
async function pullSecretFor(input: Input, namespace: string): Promise<PullSecretPlan | undefined> {
  const config = k8sConfig(input);
  if (config.imagePullSecret === false || input.registryCredential === undefined) return undefined;
  const registry = parseImageRef(input.image.ref).registry;
  const cred = await input.registryCredential(registry);
  if (cred === undefined) return undefined;
  const name = config.imagePullSecret ?? defaultPullSecretName(registry);
  const keyPath = ['targets', input.target, ...(config.imagePullSecret === undefined ? ['type'] : ['imagePullSecret'])];
  return {
    name,
    where: `${input.locate?.(keyPath) ?? input.file} (targets.${input.target}.imagePullSecret)`,
    registry,
    source: cred.source,
    secret: pullSecretManifest(name, namespace, registry, cred, { [MANAGED_BY]: 'ferry' }, cred.expiresAt?.toISOString()),
  };
}

/** The pull Secret as `ferry plan` shows it: its credential never leaves ferry. */
function redactedSecret(p: PullSecretPlan): Obj {
  return { ...p.secret, data: { '.dockerconfigjson': `<ferry's credentials for ${p.registry} (${p.source}), not shown>` } };
}

/** Referenced Secrets and ConfigMaps (and their keys) exist: checked before anything is created. */
async function checkReferences(api: KubeApi, input: Input, namespace: string, ctx: RunContext): Promise<void> {
  const config = k8sConfig(input);
  const ns = await api.namespaceExists(namespace);
  if (ns === false) {
    throw configError('K8S_NAMESPACE_NOT_FOUND', `namespace ${namespace} does not exist in the cluster (target ${input.target})`, {
      where: `${input.locate?.(['targets', input.target, 'namespace']) ?? input.file} (targets.${input.target}.namespace)`,
      suggestions: [`create it (\`kubectl create namespace ${namespace}\`), or name an existing one in targets.${input.target}.namespace`],
    });
  }
  if (ns === undefined) ctx.reporter.debug(`may not read namespace ${namespace} (RBAC): not checked`);
  const refs: { kind: 'Secret' | 'ConfigMap'; name: string; key?: string; key_path: string[] }[] = [];
  for (const [v, r] of Object.entries(config.secretEnv)) if (!r.optional) refs.push({ kind: 'Secret', name: r.name, key: r.key, key_path: ['secretEnv', v] });
  for (const [v, r] of Object.entries(config.configMapEnv)) if (!r.optional) refs.push({ kind: 'ConfigMap', name: r.name, key: r.key, key_path: ['configMapEnv', v] });
  for (const [i, e] of config.envFrom.entries()) {
    if (e.optional) continue;
    if ('secret' in e) refs.push({ kind: 'Secret', name: e.secret, key_path: ['envFrom', String(i)] });
    else refs.push({ kind: 'ConfigMap', name: e.configMap, key_path: ['envFrom', String(i)] });
  }
  const cache = new Map<string, Promise<string[] | undefined | 'forbidden'>>();
  for (const ref of refs) {
    const id = `${ref.kind}/${ref.name}`;
    let keys = cache.get(id);
    if (keys === undefined) {
      keys = ref.kind === 'Secret' ? api.secretKeys(namespace, ref.name) : api.configMapKeys(namespace, ref.name);
      cache.set(id, keys);
    }
    const got = await keys;
    const keyPath = ['targets', input.target, ...ref.key_path];
    const where = `${input.locate?.(keyPath) ?? input.file} (${keyPath.join('.')})`;
    if (got === 'forbidden') {
      ctx.reporter.warn(`may not read ${ref.kind} ${namespace}/${ref.name} (RBAC), so ferry cannot check it; the pod will fail with CreateContainerConfigError if it is missing`);
      continue;
    }
    if (got === undefined) {
      throw configError(ref.kind === 'Secret' ? 'K8S_SECRET_NOT_FOUND' : 'K8S_CONFIGMAP_NOT_FOUND', `${ref.kind} ${ref.name} does not exist in namespace ${namespace}`, {
        where,
        suggestions: [`create it (\`kubectl create ${ref.kind === 'Secret' ? 'secret generic' : 'configmap'} ${ref.name} -n ${namespace} --from-literal=KEY=VALUE\`), or fix the name`, 'or mark the reference optional: true'],
      });
    }
    if (ref.key !== undefined && !got.includes(ref.key)) {
      throw configError(ref.kind === 'Secret' ? 'K8S_SECRET_KEY_MISSING' : 'K8S_CONFIGMAP_KEY_MISSING', `${ref.kind} ${namespace}/${ref.name} has no key ${JSON.stringify(ref.key)}${got.length > 0 ? `; its keys are ${got.join(', ')}` : '; it has no keys'}`, {
        where,
        suggestions: ['fix the key name, or add the key to the ' + ref.kind, 'or mark the reference optional: true'],
        details: { keys: got },
      });
    }
  }
}

/** Writes the pull Secret when missing or different (an ECR token changes every 12 hours). */
async function applyPullSecret(api: KubeApi, p: PullSecretPlan, namespace: string, ctx: RunContext): Promise<void> {
  const existing = await api.readSecret(namespace, p.name);
  if (existing === undefined) {
    // Another deploy may create it between the read and this create: then update that one.
    if ((await api.createSecret(namespace, p.secret)) === 'created') {
      ctx.reporter.info(`created image pull Secret ${p.name} for ${p.registry} (credentials from ${p.source})`);
      return;
    }
    const raced = await api.readSecret(namespace, p.name);
    if (raced === undefined) throw tempError('K8S_API_ERROR', `Secret ${namespace}/${p.name} was there on create and gone on read`, { suggestions: ['deploy again'] });
    return applyExisting(api, p, namespace, raced, ctx);
  }
  return applyExisting(api, p, namespace, existing, ctx);
}

async function applyExisting(api: KubeApi, p: PullSecretPlan, namespace: string, existing: Obj, ctx: RunContext): Promise<void> {
  const meta = (existing['metadata'] ?? {}) as { labels?: Record<string, string>; resourceVersion?: string };
  if (meta.labels?.[MANAGED_BY] !== 'ferry') {
    throw configError('K8S_PULL_SECRET_CONFLICT', `Secret ${namespace}/${p.name} exists and is not managed by ferry, so ferry will not overwrite it with its credentials for ${p.registry}`, {
      where: p.where,
      suggestions: ['name another Secret in imagePullSecret:, or set imagePullSecret: false to let the cluster pull with what it has'],
    });
  }
  const same = JSON.stringify((existing['data'] ?? {})) === JSON.stringify(p.secret['data']) && (existing['type'] as string | undefined) === p.secret['type'];
  if (same) {
    ctx.reporter.debug(`image pull Secret ${p.name} is up to date`);
    return;
  }
  const body = { ...p.secret, metadata: { ...(p.secret['metadata'] as Obj), resourceVersion: meta.resourceVersion } };
  await api.replaceSecret(namespace, p.name, body);
  ctx.reporter.info(`updated image pull Secret ${p.name} for ${p.registry} (credentials from ${p.source})`);
}

const CREATE_JOB = 'create Job';
const APPLY_SECRET = 'create or update Secret';

async function createJob(api: KubeApi, m: JobManifest, namespace: string, ctx: RunContext, nameWhere?: string): Promise<{ job: Obj; adopted: boolean }> {
  const { obj, adopted } = await createOrFollow(
    {
      kind: 'Job',
      kubectlKind: 'job',
      namespace,
      name: m.name,
      hash: m.hash,
      create: () => api.createJob(namespace, m.job),
      read: () => api.readJob(namespace, m.name),
      remove: () => api.deleteJob(namespace, m.name),
      ended: jobEnded,
      code: 'K8S_JOB_CONFLICT',
      where: nameWhere,
    },
    ctx,
    sleep,
  );
  return { job: obj, adopted };
}

/**
 * The Job's pods, by its uid when known: after a Job is deleted and created again under the same
 * name, the old Job's pods linger until the garbage collector removes them, and they carry the
 * same job-name label.
 */
async function podsOf(api: KubeApi, ns: string, name: string, uid?: string): Promise<PodView[]> {
  return (await api.listPods(ns, uid !== undefined && uid !== '' ? `${CONTROLLER_UID_LABEL}=${uid}` : `${JOB_NAME_LABEL}=${name}`)).map(podView);
}

const uidOf = (job: Obj): string | undefined => ((job['metadata'] ?? {}) as { uid?: string }).uid;

function jobNotFound(h: Handle): FerryError {
  return unavailableError('K8S_JOB_NOT_FOUND', `Job ${h.ref['namespace'] ?? ''}/${h.ref['jobName'] ?? ''} no longer exists (deleted by ferry cancel or kubectl, or by its ttlSecondsAfterFinished)`, {
    where: `--id ${h.id}`,
    suggestions: ['its logs went with it; keep Jobs longer with a larger ttlSecondsAfterFinished'],
  });
}

/** Not narrowed by TypeScript: the signal changes between awaits. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

const failedOf = (job: Obj): number => ((job['status'] ?? {}) as { failed?: number }).failed ?? 0;

const statusKey = (s: RunStatus): string => `${s.state}/${s.phase ?? ''}/${s.reason ?? ''}/${JSON.stringify(s.children ?? {})}`;


/** Pod checks while no pod runs: 2 s, doubling to 30 s. */
const POD_CHECK_FIRST_MS = 2000;
const POD_CHECK_MAX_MS = 30_000;

export const kubernetesJobAdapter: RemoteAdapter = {
  type: 'kubernetes-job',

  check(input, opts): void {
    const config = k8sConfig(input);
    // --render needs no cluster; otherwise the kubeconfig and context are read from disk, so a
    // wrong one fails before the build.
    const ns = opts?.render === true ? (config.namespace ?? 'default') : clusterOf(input, { reporter: silentReporter, env: process.env, cwd: process.cwd() }).namespace;
    manifestFor(input, ns, undefined);
  },

  async render(input, ctx): Promise<Obj[]> {
    // For GitOps: no cluster call, no credentials. The namespace is the target's, else the
    // context's when a kubeconfig can be read, else left to whoever applies the manifest.
    const config = k8sConfig(input);
    let ns = config.namespace;
    if (ns === undefined) {
      try {
        ns = clusterOf(input, ctx).namespace;
      } catch (e) {
        ctx.reporter.debug(`no kubeconfig for the namespace: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const pullSecret = typeof config.imagePullSecret === 'string' ? config.imagePullSecret : undefined;
    const m = manifestFor(input, ns ?? '', pullSecret);
    if (ns === undefined) delete (m.job['metadata'] as Obj)['namespace'];
    if (m.eachNotDelivered !== undefined) ctx.reporter.warn(`--each: ${m.eachNotDelivered}`);
    await validate([m.job], input);
    return [m.job];
  },

  async plan(input, ctx): Promise<Plan> {
    const cluster = clusterOf(input, ctx);
    const ns = cluster.namespace;
    const pull = await pullSecretFor(input, ns);
    const m = manifestFor(input, ns, pull?.name);
    await validate(pull === undefined ? [m.job] : [pull.secret, m.job], input);
    const requests: PlannedRequest[] = [];
    const notes: string[] = [`cluster ${cluster.server} (context ${cluster.context}, from ${cluster.source}), namespace ${ns}`];
    if (pull !== undefined) {
      requests.push({ service: 'kubernetes', action: `${APPLY_SECRET} ${ns}/${pull.name}`, payload: redactedSecret(pull) });
      notes.push(`image pull Secret ${pull.name}: ferry's credentials for ${pull.registry} (${pull.source}), written only when missing or changed`);
    }
    requests.push({ service: 'kubernetes', action: `${CREATE_JOB} ${ns}/${m.name}`, payload: m.job });
    notes.push(`the Job is named ${m.name}: the same inputs give the same name, so a retried deploy follows the Job it made`);
    notes.push(`deploy adds the label ferry/deploy-id to the Job and its pods, then watches the Job until it is Complete or Failed`);
    if (input.each !== undefined && input.each.values.length > 1) {
      notes.push(`one Indexed Job of ${String(input.each.values.length)} completions over ${input.each.key}${m.eachNotDelivered === undefined ? `; pod i gets ${input.each.key}, FERRY_EACH_VALUE and FERRY_EACH_INDEX from ferry's /bin/sh wrapper` : ''}`);
      if (m.eachNotDelivered !== undefined) ctx.reporter.warn(`--each: ${m.eachNotDelivered}`);
    }
    // Read-only checks a plan can make: whatever deploy would refuse, plan refuses too.
    await checkReferences(cluster.api, input, ns, ctx);
    return { target: input.target, type: 'kubernetes-job', image: input.image, requests, notes, manifests: pull === undefined ? [m.job] : [redactedSecret(pull), m.job] };
  },

  async deploy(_plan, input, ctx): Promise<Handle> {
    const cluster = clusterOf(input, ctx);
    const ns = cluster.namespace;
    const api = cluster.api;
    // The namespace, Secrets and ConfigMaps were checked by plan(), which deploy always follows.
    const pull = await pullSecretFor(input, ns);
    const deployId = newRunId();
    const m = manifestFor(input, ns, pull?.name, deployId);
    await validate(pull === undefined ? [m.job] : [pull.secret, m.job], input);
    if (ctx.signal?.aborted === true) throw interruptedError(ctx.signal.reason, `creating Job ${m.name}`);
    if (pull !== undefined) await applyPullSecret(api, pull, ns, ctx);
    const { job, adopted } = await createJob(api, m, ns, ctx, `${input.locate?.(['targets', input.target, 'name']) ?? input.file} (targets.${input.target}.name)`);
    const labels = ((job['metadata'] ?? {}) as { labels?: Record<string, string> }).labels ?? {};
    const id = adopted ? (labels['ferry/deploy-id'] ?? deployId) : deployId;
    if (!adopted) ctx.reporter.info(`created Job ${ns}/${m.name} (context ${cluster.context})`);
    // Clusters before 1.29 drop backoffLimitPerIndex without an error: the Job then shares one
    // backoffLimit (6 by default) across its indexes, and one index's failures can fail them all.
    const sentPerIndex = ((m.job['spec'] ?? {}) as Obj)['backoffLimitPerIndex'];
    if (sentPerIndex !== undefined && ((job['spec'] ?? {}) as Obj)['backoffLimitPerIndex'] === undefined) {
      ctx.reporter.warn(`the cluster ignored backoffLimitPerIndex (it needs Kubernetes 1.29 or newer): the ${String(input.each?.values.length ?? '')} indexes share the Job's backoffLimit, and failures of some can fail the whole Job`);
    }
    const config = k8sConfig(input);
    return {
      id,
      target: input.target,
      type: 'kubernetes-job',
      image: input.image.ref,
      createdAt: new Date().toISOString(),
      ref: {
        jobName: m.name,
        namespace: ns,
        context: cluster.context,
        kubeconfig: config.kubeconfig === undefined ? '' : path.resolve(path.dirname(path.resolve(ctx.cwd, input.file)), config.kubeconfig),
        server: cluster.server,
        config: input.file,
        uid: uidOf(job) ?? '',
        ...(input.each !== undefined ? { eachKey: input.each.key, eachCount: String(input.each.values.length) } : {}),
      },
    };
  },

  async status(h, ctx): Promise<RunStatus> {
    const { api } = clusterOfHandle(h, ctx);
    const ns = h.ref['namespace'] ?? 'default';
    const name = h.ref['jobName'] ?? '';
    const job = await api.readJob(ns, name);
    if (job === undefined) throw jobNotFound(h);
    assertSameRun(h, job, 'Job');
    const s = runStatusOf(job, await podsOf(api, ns, name, uidOf(job)));
    // No pod at all: the controller's Events say whether it could not create one.
    return s.phase === 'Created' ? withCreateFailure(s, await api.listEvents(ns, createFailureSelector(name, uidOf(job)))) : s;
  },

  async wait(h, cb, ctx): Promise<RunStatus> {
    const { api } = clusterOfHandle(h, ctx);
    const ns = h.ref['namespace'] ?? 'default';
    const name = h.ref['jobName'] ?? '';
    const first = await api.readJob(ns, name);
    if (first === undefined) throw jobNotFound(h);
    assertSameRun(h, first, 'Job');
    // Shared with the watch callback and the pod checks, which change it between awaits.
    const uid = uidOf(first);
    const w = { job: first, pods: await podsOf(api, ns, name, uid), last: { state: 'pending' } as RunStatus, lastKey: '', podsAfterEnd: false, createEvents: [] as Obj[], seenFailed: failedOf(first), podCheck: undefined as Promise<void> | undefined };
    const indexed = (((first['spec'] ?? {}) as { completionMode?: string }).completionMode ?? '') === 'Indexed';
    const report = (): void => {
      const s = withCreateFailure(runStatusOf(w.job, w.pods), w.createEvents);
      w.last = s;
      const k = statusKey(s);
      if (k !== w.lastKey) cb.onChange(s);
      w.lastKey = k;
    };
    report();
    const counts = (j: Obj): string => {
      const s = (j['status'] ?? {}) as Record<string, unknown>;
      return JSON.stringify([s['active'], s['ready'], s['failed'], s['succeeded'], s['failedIndexes']]);
    };
    /** One look at a time, at the pods or at the controller's Events, whose answer updates the status. */
    const check = (what: string, look: () => Promise<void>): void => {
      w.podCheck ??= look()
        .then(report)
        .catch((e: unknown) => {
          ctx.reporter.debug(`${what}: ${e instanceof Error ? e.message : String(e)}`);
        })
        .finally(() => {
          w.podCheck = undefined;
        });
    };
    const refreshPods = (): void => {
      const ended = jobEnded(w.job);
      check('listing pods', async () => {
        w.pods = await podsOf(api, ns, name, uid);
        if (ended) w.podsAfterEnd = true;
      });
    };
    const end = await followObject({
      kind: 'Job',
      name,
      first,
      read: () => api.readJob(ns, name),
      watch: (rv, onEvent, signal) => api.watchJob(ns, name, rv, onEvent, signal),
      ended: jobEnded,
      signal: cb.signal,
      sleep,
      debug: (l) => {
        ctx.reporter.debug(l);
      },
      onObject: (job) => {
        w.job = job;
        const failed = failedOf(job);
        // A failed attempt's reason and exit code come from its pods; the Job's own counts say the
        // rest. An Indexed Job's children are counted by the Job itself, and listing all its pods
        // on every failure would cost O(N²).
        if ((failed !== w.seenFailed && !indexed) || jobEnded(job)) refreshPods();
        w.seenFailed = failed;
        report();
      },
      // While the Job has pods that do not run yet, look at them now and then: the Job's own
      // status does not change when a pod is stuck pulling its image or unschedulable.
      beside: async (signal) => {
        let delay = POD_CHECK_FIRST_MS;
        let before = counts(w.job);
        while (!signal.aborted) {
          await sleep(delay, signal).catch(() => undefined);
          if (isAborted(signal)) break;
          const s = (w.job['status'] ?? {}) as { active?: number; ready?: number };
          // Only a Job that has not moved since the last look can be stuck: a fan-out whose pods
          // keep starting and ending is progressing, and listing its pods would only cost.
          const now = counts(w.job);
          if ((s.active ?? 0) > (s.ready ?? 0) && now === before) refreshPods();
          // No pod at all after a while: the controller may be failing to create it (admission,
          // quota); only its Events say so.
          else if (runStatusOf(w.job).phase === 'Created' && now === before) {
            check('listing events', async () => {
              w.createEvents = await api.listEvents(ns, createFailureSelector(name, uid));
            });
          }
          before = now;
          delay = Math.min(POD_CHECK_MAX_MS, delay * 2);
        }
        await w.podCheck;
      },
    });
    await w.podCheck;
    if (end.how === 'vanished') throw jobNotFound(h);
    if (end.how === 'deleted') {
      const s: RunStatus = { state: 'cancelled', phase: 'Deleted', reason: `Job ${ns}/${name} was deleted` };
      cb.onChange(s);
      return s;
    }
    if (end.how === 'interrupted') return w.last;
    // The pods as they ended (exit codes, reasons), unless the watch's last event already listed them.
    if (!w.podsAfterEnd) w.pods = await podsOf(api, ns, name, uid);
    report();
    return w.last;
  },

  logs(h, opts, ctx): AsyncIterable<LogLine> {
    return podLogs(h, opts, ctx);
  },

  async cancel(h, ctx): Promise<CancelOutcome> {
    const { api } = clusterOfHandle(h, ctx);
    const ns = h.ref['namespace'] ?? 'default';
    const name = h.ref['jobName'] ?? '';
    const job = await api.readJob(ns, name);
    if (job === undefined) return { action: 'none', before: 'cancelled', phase: 'Deleted' };
    assertSameRun(h, job, 'Job');
    const s = runStatusOf(job);
    if (s.state === 'succeeded' || s.state === 'failed') return { action: 'none', before: s.state, ...(s.phase !== undefined ? { phase: s.phase } : {}) };
    // A plain DELETE orphans the Job's pods, which would run on: Background deletes them too.
    // Only this run's Job: a newer one of the same name (made in between) is refused by the API server.
    if (!(await api.deleteJob(ns, name, uidOf(job)))) return { action: 'none', before: 'cancelled', phase: 'Deleted' };
    return { action: 'delete Job', before: s.state, ...(s.phase !== undefined ? { phase: s.phase } : {}) };
  },
};

/**
 * The Job's pods' logs, oldest pod first (a retried Job has one pod per attempt), each read to
 * its end. Following, it waits for each pod to start and for new pods until the Job has ended.
 */
async function* podLogs(h: Handle, opts: LogOptions, ctx: RunContext): AsyncGenerator<LogLine> {
  const { api } = clusterOfHandle(h, ctx);
  const ns = h.ref['namespace'] ?? 'default';
  const name = h.ref['jobName'] ?? '';
  const count = h.ref['eachCount'] === undefined ? undefined : Number(h.ref['eachCount']);
  if (opts.index !== undefined && (count === undefined || count < 2 || opts.index >= count)) {
    throw usageError('K8S_LOGS_NO_SUCH_INDEX', count === undefined || count < 2 ? `Job ${ns}/${name} is not an Indexed Job (no --each): it has no index ${String(opts.index)}` : `Job ${ns}/${name} has indexes 0 to ${String(count - 1)}, not ${String(opts.index)}`, {
      where: '--index',
      suggestions: [count === undefined || count < 2 ? 'leave --index out' : `pass --index N with N from 0 to ${String(count - 1)}`],
    });
  }
  const done = new Set<string>();
  // Set when deploy has seen the Job end (a holder: it changes between awaits).
  const seen = { ended: false };
  void opts.ended?.then(() => {
    seen.ended = true;
  });
  const signal = ctx.signal;
  for (;;) {
    const job = await api.readJob(ns, name);
    if (job === undefined) {
      if (done.size === 0) throw jobNotFound(h);
      return;
    }
    assertSameRun(h, job, 'Job');
    const jobOver = jobEnded(job) || seen.ended;
    const pods = byCreation(await podsOf(api, ns, name, uidOf(job))).filter((p) => opts.index === undefined || p.index === opts.index);
    for (const pod of pods) {
      if (done.has(pod.name)) continue;
      let p: PodView | undefined = pod;
      // A pod that has not started has no log yet: wait for it (following), or skip it.
      let delay = 500;
      while (p !== undefined && p.phase === 'Pending' && p.state?.terminated === undefined) {
        if (!opts.follow || signal?.aborted === true || seen.ended) break;
        await sleep(delay, signal).catch(() => undefined);
        delay = Math.min(5000, delay * 2);
        const raw = await api.readPod(ns, pod.name);
        p = raw === undefined ? undefined : podView(raw);
      }
      if (p === undefined || (p.phase === 'Pending' && p.state?.terminated === undefined)) {
        if (p === undefined || !opts.follow || seen.ended) done.add(pod.name);
        continue;
      }
      try {
        // A followed stream can end while the container still runs (an API server restart, a
        // proxy's idle timeout): read on from where it stopped, at most a few times.
        const mark = newLogMark();
        for (let resumes = 0; ; resumes++) {
          yield* readLog(api, ns, pod.name, opts.follow, signal, mark);
          if (!opts.follow || isAborted(signal) || resumes >= LOG_RESUMES) break;
          const now = await api.readPod(ns, pod.name);
          const view = now === undefined ? undefined : podView(now);
          if (view === undefined || view.state?.running === undefined) break;
          ctx.reporter.debug(`the log stream of pod ${pod.name} ended while it runs: reading on from ${mark.time || 'its start'}`);
        }
      } catch (e) {
        // One pod's log failing (its node gone, a kubelet error) must not hide the next attempts'.
        if (e instanceof FerryError && (e.code === 'K8S_UNAUTHORIZED' || e.code === 'K8S_FORBIDDEN')) throw e;
        ctx.reporter.warn(`could not read the log of pod ${pod.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
      done.add(pod.name);
    }
    if (!opts.follow || signal?.aborted === true) return;
    if (jobOver && pods.every((p) => done.has(p.name))) return;
    await sleep(1000, signal).catch(() => undefined);
    if (isAborted(signal)) return;
  }
}

/** One pod's log as lines, read with timestamps (stripped) so that a later read can resume after them. */
export async function* readLog(api: KubeApi, ns: string, pod: string, follow: boolean, signal: AbortSignal | undefined, mark: LogMark = newLogMark(), container = CONTAINER): AsyncGenerator<LogLine> {
  const since = sinceTimeOf(mark);
  /** The text of a "TIMESTAMP text" line, or undefined when it was printed before the resume. */
  const fresh = resumeFilter(mark);
  // Filled by the stream, drained by the generator: a holder, since it changes between awaits.
  const q: { lines: string[]; partial: string; wake?: (() => void) | undefined; finished: boolean; failure?: unknown } = { lines: [], partial: '', finished: false };
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const parts = (q.partial + chunk.toString('utf8')).split('\n');
      q.partial = parts.pop() ?? '';
      q.lines.push(...parts);
      q.wake?.();
      cb();
    },
  });
  const reading = api
    .podLog(ns, pod, container, out, { follow, signal, timestamps: true, ...(since !== undefined ? { sinceTime: since } : {}) })
    .catch((e: unknown) => {
      q.failure = e;
    })
    .finally(() => {
      q.finished = true;
      q.wake?.();
    });
  for (;;) {
    while (q.lines.length > 0) {
      const text = fresh(q.lines.shift() ?? '');
      if (text !== undefined) yield { stream: 'stdout', text };
    }
    if (q.finished) break;
    await new Promise<void>((r) => {
      q.wake = r;
    });
    q.wake = undefined;
  }
  await reading;
  const last = q.partial === '' ? undefined : fresh(q.partial);
  if (last !== undefined) yield { stream: 'stdout', text: last };
  if (q.failure !== undefined) throw q.failure instanceof Error ? q.failure : new Error('reading the log failed');
}
