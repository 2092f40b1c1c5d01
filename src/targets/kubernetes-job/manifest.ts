/**
 * The Kubernetes objects ferry sends, as plain data built from ferry.yaml (no client here, so
 * `ferry plan`, `--render` and the tests see exactly what would go out). Field names are the API's
 * own (batch/v1 Job, v1 Secret).
 */
import { createHash } from 'node:crypto';
import { EACH_ARGV0, eachWrapper } from '../../core/each-wrapper.js';
import { parseCpu, parseDuration, parseMemory } from '../../core/quantities.js';
import type { DeployInput, EachInput } from '../../core/target.js';
import type { KubernetesJobTargetConfig } from './schema.js';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
/** Labels ferry owns. A bare "ferry" prefix is a valid DNS-1123 subdomain, and no one else's. */
export const TARGET_LABEL = 'ferry/target';
export const DEPLOY_ID_LABEL = 'ferry/deploy-id';
/** The hash in the Job's name, also as a label, so a Job found by name can be checked to be ours. */
export const SPEC_HASH_LABEL = 'ferry/spec-hash';
export const CONTAINER = 'main';
/** The index variable Kubernetes sets in each pod of an Indexed Job. */
export const INDEX_VAR = 'JOB_COMPLETION_INDEX';
/** Indexed Jobs: at most 100,000 completions (the API's limit when completions > 1 and Indexed). */
export const MAX_INDEXED_COMPLETIONS = 100_000;
/**
 * --each values travel in one environment variable of the pod; Linux refuses a single
 * environment string over 128 KiB (MAX_ARG_STRLEN) when the container starts, so ferry keeps the
 * values well under it. (Every pod of the Job carries them, so smaller is kinder to etcd too.)
 */
export const EACH_ENV_BUDGET = 120 * 1024;

export class ManifestInputError extends Error {
  constructor(
    message: string,
    readonly key: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface JobManifestInput {
  target: string;
  config: KubernetesJobTargetConfig;
  namespace: string;
  image: string;
  imageEntrypoint?: string[] | undefined;
  job: DeployInput<unknown>['job'];
  each?: EachInput | undefined;
  /** The pull Secret's name, when ferry makes one. */
  pullSecret?: string | undefined;
}

export type Obj = Record<string, unknown>;

export interface JobManifest {
  name: string;
  hash: string;
  job: Obj;
  /** --each values not delivered as KEY (no shell in the image): why, for a warning. */
  eachNotDelivered?: string;
}

/**
 * The longest start of a Job name: the name is START-<10 hex> (56), and an Indexed Job's pods get
 * the hostname <Job name>-<index>, which must be a DNS-1123 label (63): room for 6 index digits.
 */
export const NAME_MAX = 45;

/** ferry-<target>, made a DNS-1123 label of at most NAME_MAX characters. */
export function baseName(target: string, config: KubernetesJobTargetConfig): string {
  if (config.name !== undefined) return config.name;
  const s = `ferry-${target}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, NAME_MAX)
    .replace(/^-+|-+$/g, '');
  return s === '' ? 'ferry' : s;
}

function quantityOf(v: string | number): string | number {
  return v;
}

function resources(config: KubernetesJobTargetConfig, job: JobManifestInput['job']): Obj | undefined {
  if (config.resources !== undefined) {
    const out: Obj = {};
    if (config.resources.requests !== undefined) out['requests'] = Object.fromEntries(Object.entries(config.resources.requests).map(([k, v]) => [k, quantityOf(v)]));
    if (config.resources.limits !== undefined) out['limits'] = Object.fromEntries(Object.entries(config.resources.limits).map(([k, v]) => [k, quantityOf(v)]));
    return out;
  }
  const r = job.resources;
  if (r === undefined) return undefined;
  const requests: Obj = {};
  const limits: Obj = {};
  if (r.cpu !== undefined) {
    const cpus = parseCpu(r.cpu);
    if (cpus === undefined) throw new ManifestInputError(`job.resources.cpu ${JSON.stringify(r.cpu)} is not a CPU amount`, 'job.resources.cpu', 'use a number of CPUs (0.5, 2) or millicores ("500m")');
    requests['cpu'] = `${String(Math.max(1, Math.round(cpus * 1000)))}m`;
  }
  if (r.memory !== undefined) {
    const bytes = parseMemory(r.memory);
    if (bytes === undefined) throw new ManifestInputError(`job.resources.memory ${JSON.stringify(r.memory)} is not a memory amount`, 'job.resources.memory', 'use a binary unit such as "512Mi" or "2Gi"');
    // Memory is requested and limited alike: a pod over its request but under no limit is the
    // first one evicted, which a batch job should not be.
    const mi = `${String(Math.ceil(bytes / (1024 * 1024)))}Mi`;
    requests['memory'] = mi;
    limits['memory'] = mi;
  }
  if (r.gpu !== undefined && r.gpu > 0) limits['nvidia.com/gpu'] = r.gpu;
  const out: Obj = {};
  if (Object.keys(requests).length > 0) out['requests'] = requests;
  if (Object.keys(limits).length > 0) out['limits'] = limits;
  return Object.keys(out).length > 0 ? out : undefined;
}

function deadline(config: KubernetesJobTargetConfig, job: JobManifestInput['job']): number | undefined {
  if (config.activeDeadlineSeconds !== undefined) return config.activeDeadlineSeconds;
  if (job.timeout === undefined) return undefined;
  const ms = parseDuration(job.timeout);
  if (ms === undefined) throw new ManifestInputError(`job.timeout ${JSON.stringify(job.timeout)} is not a duration`, 'job.timeout', 'use a duration such as "90s", "30m" or "1h30m"');
  return Math.max(1, Math.ceil(ms / 1000));
}

/** What the container runs: Kubernetes' command replaces ENTRYPOINT (and drops CMD), args replace CMD. */
function commandFor(job: JobManifestInput['job']): Obj {
  const out: Obj = {};
  if (job.command !== undefined && job.command.length > 0) out['command'] = job.command;
  if (job.args !== undefined && job.args.length > 0) out['args'] = job.args;
  return out;
}

interface EachParts {
  env: Obj[];
  container: Obj;
  spec: Obj;
  notDelivered?: string;
}

function eachParts(input: JobManifestInput): EachParts | undefined {
  const each = input.each;
  if (each === undefined) return undefined;
  const base = [
    { name: 'FERRY_EACH_KEY', value: each.key },
    { name: 'FERRY_EACH_COUNT', value: String(each.values.length) },
    { name: 'FERRY_EACH_VALUES', value: each.values.join('\n') },
  ];
  if (each.values.length === 1) {
    // One value: a plain Job with the value set directly (no wrapper, no shell needed).
    const v = each.values[0] ?? '';
    return { env: [...base, { name: 'FERRY_EACH_INDEX', value: '0' }, { name: 'FERRY_EACH_VALUE', value: v }, { name: each.key, value: v }], container: commandFor(input.job), spec: {} };
  }
  const size = Buffer.byteLength(JSON.stringify(each.values), 'utf8');
  if (size > EACH_ENV_BUDGET) {
    throw new ManifestInputError(
      `the ${String(each.values.length)} values of ${each.key} (${each.source}) take ${String(size)} bytes; they reach each pod as one environment variable, and Linux refuses one over 128 KiB when the container starts (ferry keeps them under ${String(EACH_ENV_BUDGET / 1024)} KiB)`,
      '--each',
      'split the values over several deploys, or pass short ids and let the job look the rest up',
    );
  }
  if (each.values.length > MAX_INDEXED_COMPLETIONS) {
    throw new ManifestInputError(`${String(each.values.length)} values of ${each.key}: an Indexed Job has at most ${String(MAX_INDEXED_COMPLETIONS)} completions`, '--each', 'split the values over several deploys');
  }
  const spec: Obj = {
    completionMode: 'Indexed',
    completions: each.values.length,
    parallelism: Math.min(input.config.parallelism ?? each.values.length, each.values.length),
    // Each index gets its own retries, so one failing value neither stops nor uses up the others'
    // (backoffLimitPerIndex: beta from 1.29, GA in 1.33). The Job fails at the end if any index did.
    backoffLimitPerIndex: input.config.backoffLimit,
  };
  // Kubernetes can replace the ENTRYPOINT, so the wrapper runs whatever the image would have run.
  const job = input.job;
  const run =
    job.command !== undefined && job.command.length > 0
      ? [...job.command, ...(job.args ?? [])]
      : [...(input.imageEntrypoint ?? []), ...(job.args !== undefined && job.args.length > 0 ? job.args : (each.imageCmd ?? []))];
  if (each.shell === undefined) {
    return {
      env: base,
      container: commandFor(job),
      spec,
      notDelivered: 'ferry found no /bin/sh in the image (or could not tell), so it cannot run its wrapper: each pod reads JOB_COMPLETION_INDEX and FERRY_EACH_VALUES (one value a line) itself',
    };
  }
  if (run.length === 0) {
    return { env: base, container: commandFor(job), spec, notDelivered: 'the image has no ENTRYPOINT or CMD and job.command is unset: there is nothing for the wrapper to run' };
  }
  return { env: base, container: { command: ['/bin/sh', '-c', eachWrapper(INDEX_VAR), EACH_ARGV0, ...run] }, spec };
}

function envFor(input: JobManifestInput, each: EachParts | undefined): Obj[] {
  const env: Obj[] = Object.entries(input.job.env).map(([name, value]) => ({ name, value }));
  for (const [name, ref] of Object.entries(input.config.secretEnv)) {
    env.push({ name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key, ...(ref.optional ? { optional: true } : {}) } } });
  }
  for (const [name, ref] of Object.entries(input.config.configMapEnv)) {
    env.push({ name, valueFrom: { configMapKeyRef: { name: ref.name, key: ref.key, ...(ref.optional ? { optional: true } : {}) } } });
  }
  if (each !== undefined) env.push(...each.env);
  return env;
}

/** The spec hash: 10 hex digits of what the Job runs, so the same deploy retried names the same Job. */
export function specHash(namespace: string, job: Obj): string {
  return createHash('sha256').update(namespace).update('\0').update(JSON.stringify(job)).digest('hex').slice(0, 10);
}

/**
 * The Job for a deploy. Its name is NAME-<hash of namespace and spec>: the same inputs always give
 * the same name (a retried deploy finds its Job; `--render` output is stable for GitOps diffs).
 * `deployId`, set only when deploying, is a label outside the hash.
 */
export function jobManifest(input: JobManifestInput, deployId?: string): JobManifest {
  const { config } = input;
  const each = eachParts(input);
  const res = resources(config, input.job);
  const env = envFor(input, each);
  const envFrom = config.envFrom.map((e) =>
    'secret' in e ? { secretRef: { name: e.secret, ...(e.optional ? { optional: true } : {}) } } : { configMapRef: { name: e.configMap, ...(e.optional ? { optional: true } : {}) } },
  );
  const container: Obj = {
    name: CONTAINER,
    image: input.image,
    ...(each?.container ?? commandFor(input.job)),
    ...(env.length > 0 ? { env } : {}),
    ...(envFrom.length > 0 ? { envFrom } : {}),
    ...(res !== undefined ? { resources: res } : {}),
    ...(config.securityContext !== undefined ? { securityContext: config.securityContext } : {}),
  };
  const labels: Record<string, string> = { ...config.labels, [MANAGED_BY]: 'ferry', [TARGET_LABEL]: input.target.slice(0, 63).replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '') };
  const podSpec: Obj = {
    restartPolicy: 'Never',
    ...(config.serviceAccountName !== undefined ? { serviceAccountName: config.serviceAccountName } : {}),
    ...(config.podSecurityContext !== undefined ? { securityContext: config.podSecurityContext } : {}),
    ...(config.nodeSelector !== undefined ? { nodeSelector: config.nodeSelector } : {}),
    ...(config.tolerations !== undefined ? { tolerations: config.tolerations } : {}),
    ...(input.pullSecret !== undefined ? { imagePullSecrets: [{ name: input.pullSecret }] } : {}),
    containers: [container],
  };
  const ads = deadline(config, input.job);
  const indexed = each?.spec['completionMode'] === 'Indexed';
  const spec: Obj = {
    // An Indexed Job counts retries per index (backoffLimitPerIndex) instead.
    ...(indexed ? {} : { backoffLimit: config.backoffLimit }),
    ...(ads !== undefined ? { activeDeadlineSeconds: ads } : {}),
    ...(config.ttlSecondsAfterFinished !== undefined ? { ttlSecondsAfterFinished: config.ttlSecondsAfterFinished } : {}),
    ...(each?.spec ?? {}),
    template: { metadata: { labels: { ...labels }, ...(Object.keys(config.annotations).length > 0 ? { annotations: config.annotations } : {}) }, spec: podSpec },
  };
  const base = baseName(input.target, config);
  const hash = specHash(input.namespace, { labels, annotations: config.annotations, spec });
  const name = `${base}-${hash}`;
  const allLabels = { ...labels, [SPEC_HASH_LABEL]: hash, ...(deployId !== undefined ? { [DEPLOY_ID_LABEL]: deployId } : {}) };
  const tpl = spec['template'] as { metadata: { labels: Record<string, string> } };
  tpl.metadata.labels = { ...allLabels };
  const job: Obj = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: input.namespace,
      labels: allLabels,
      ...(Object.keys(config.annotations).length > 0 ? { annotations: config.annotations } : {}),
    },
    spec,
  };
  return { name, hash, job, ...(each?.notDelivered !== undefined ? { eachNotDelivered: each.notDelivered } : {}) };
}

/** A kubernetes.io/dockerconfigjson Secret for one registry. */
export function pullSecretManifest(name: string, namespace: string, registry: string, cred: { username: string; password: string }, labels: Record<string, string>, expiresAt?: string): Obj {
  const auth = Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
  const config = JSON.stringify({ auths: { [registry]: { username: cred.username, password: cred.password, auth } } });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels, ...(expiresAt !== undefined ? { annotations: { 'ferry/expires-at': expiresAt } } : {}) },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(config).toString('base64') },
  };
}

/** ferry-pull-<registry host>, a DNS-1123 subdomain. */
export function defaultPullSecretName(registry: string): string {
  return `ferry-pull-${registry.toLowerCase().replace(/[^a-z0-9.-]+/g, '-')}`.slice(0, 253).replace(/[-.]+$/, '');
}
