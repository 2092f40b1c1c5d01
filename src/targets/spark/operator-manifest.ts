/**
 * submit: operator — the SparkApplication (sparkoperator.k8s.io/v1beta2) that the Kubernetes Spark
 * operator runs: the same inputs as the spark-submit path (and the same checks: buildSubmit runs
 * first), written as the operator's resource instead of a command line. Plain data, no client, so
 * `ferry plan`, `--render` and the tests see exactly what would be sent.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FerryError } from '../../core/errors.js';
import { parseCpu, parseDuration } from '../../core/quantities.js';
import type { DeployInput } from '../../core/target.js';
import type { CustomKind } from '../kubernetes-job/client.js';
import { DEPLOY_ID_LABEL, MANAGED_BY, SPEC_HASH_LABEL, specHash, TARGET_LABEL } from '../kubernetes-job/manifest.js';
import type { SparkTargetConfig } from './schema.js';
import { classify, masterKind, memoryValue, problemAt, sparkSubmitFor } from './submit.js';

export const SPARK_APPLICATION: CustomKind = { group: 'sparkoperator.k8s.io', version: 'v1beta2', plural: 'sparkapplications', kind: 'SparkApplication' };

/**
 * The longest start of the name: the name is START-<10 hex> (56). The operator names the driver
 * pod <name>-driver and the UI Service <name>-ui-svc, and a Service name is a DNS-1123 label (63).
 */
const NAME_MAX = 45;

/** Where the operator path checks with buildSubmit: a k8s:// master (the cluster's own). */
const IN_CLUSTER_MASTER = 'k8s://https://kubernetes.default.svc';

type Obj = Record<string, unknown>;
type Input = DeployInput<SparkTargetConfig>;

export interface SparkAppManifest {
  name: string;
  hash: string;
  app: Obj;
  notes: string[];
}

/** ferry-<target> (or name:), made a DNS-1123 label of at most NAME_MAX characters. */
function baseName(input: Input): string {
  const s = (input.config.name ?? `ferry-${input.target}`)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, NAME_MAX)
    .replace(/^-+|-+$/g, '');
  // The operator names the UI Service <name>-ui-svc, and a Service name must start with a letter.
  return s === '' ? 'ferry' : /^[a-z]/.test(s) ? s : `ferry-${s}`.slice(0, NAME_MAX).replace(/-+$/, '');
}

/** A label value from any string: at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends. */
const labelValue = (s: string): string => s.slice(0, 63).replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');

/** A Spark pod template file (a Pod manifest) as the SparkApplication's PodTemplateSpec. */
function podTemplate(input: Input, key: string, file: string): Obj {
  const host = path.resolve(path.dirname(input.file), file);
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(host, 'utf8'));
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw problemAt(input, code === 'ENOENT' || code === 'EISDIR' ? 'SPARK_FILE_NOT_FOUND' : 'SPARK_CONFIG_INVALID', key, code === 'ENOENT' || code === 'EISDIR' ? `${key} ${host} is not a file` : `${key} ${host} is not YAML: ${e instanceof Error ? e.message : String(e)}`, [
      'a relative path is relative to ferry.yaml; the file is a Pod manifest (apiVersion: v1, kind: Pod, metadata, spec)',
    ]);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw problemAt(input, 'SPARK_CONFIG_INVALID', key, `${key} ${host} is not a Pod manifest (a YAML mapping)`, ['write apiVersion: v1, kind: Pod, metadata and spec, as for spark-submit\'s pod templates']);
  }
  const pod = doc as Obj;
  return { ...(pod['metadata'] !== undefined ? { metadata: pod['metadata'] } : {}), ...(pod['spec'] !== undefined ? { spec: pod['spec'] } : {}) };
}

/**
 * The SparkApplication for a deploy. Its name is NAME-<hash of namespace and spec>, as the
 * kubernetes-job target's Job: a retried deploy follows the application it made, and `--render`
 * output is stable. `deployId`, set only when deploying, is a label outside the hash.
 */
export function sparkApplicationManifest(input: Input, namespace: string | undefined, env: NodeJS.ProcessEnv, deployId?: string): SparkAppManifest {
  const c = input.config;
  if (c.master !== undefined && !/^k8s:\/\//.test(c.master)) {
    throw problemAt(input, 'SPARK_MASTER_INVALID', 'master', `with submit: operator the application runs on the Kubernetes cluster of the kubeconfig, not on ${c.master}`, ['leave master out, or write the cluster\'s k8s://https://HOST:PORT']);
  }
  // The same checks as spark-submit in cluster mode: files (in the image or URLs, never this
  // machine's), conf keys and types, sizes, packages, job.resources.gpu.
  const checked = sparkSubmitFor({ ...input, config: { ...c, master: c.master ?? IN_CLUSTER_MASTER } }, { runId: '00000000-000000000000', env, operator: true });
  if (masterKind(checked.master) !== 'k8s') throw new FerryError('INTERNAL', 'the operator path checked with a master that is not k8s://');
  const baseDir = path.dirname(input.file);
  const uri = (v: string): string => {
    const ref = classify(v, baseDir);
    // buildSubmit refused files of this machine on a k8s:// master.
    return ref.kind === 'host' ? v : ref.uri;
  };
  const kc = c.kubernetes ?? { namespace: 'default', imagePullSecrets: [], labels: {} };
  const notes: string[] = [];

  const type = /\.py$/i.test(c.app) ? 'Python' : /\.r$/i.test(c.app) ? 'R' : 'Scala';
  const envVars = Object.entries(input.job.env).map(([name, value]) => ({ name, value }));
  const cpu = input.job.resources?.cpu;
  const cpus = cpu === undefined ? undefined : parseCpu(cpu);
  const execMemory = c.executor.memory ?? input.job.resources?.memory;
  const podLabels: Record<string, string> = { ...kc.labels, [MANAGED_BY]: 'ferry', [TARGET_LABEL]: labelValue(input.target) };

  const driver: Obj = {
    ...(c.driver.cores !== undefined ? { cores: c.driver.cores } : {}),
    ...(c.driver.memory !== undefined ? { memory: memoryValue(c.driver.memory, 'driver.memory') } : {}),
    ...(kc.serviceAccount !== undefined ? { serviceAccount: kc.serviceAccount } : {}),
    labels: { ...podLabels },
    ...(envVars.length > 0 ? { env: envVars } : {}),
  };
  const executor: Obj = {
    ...(c.executor.instances !== undefined ? { instances: c.executor.instances } : {}),
    ...(c.executor.cores !== undefined ? { cores: c.executor.cores } : cpus !== undefined && Number.isInteger(cpus) ? { cores: cpus } : {}),
    ...(c.executor.cores === undefined && cpus !== undefined && !Number.isInteger(cpus) ? { coreRequest: String(cpu) } : {}),
    ...(execMemory !== undefined ? { memory: memoryValue(execMemory, c.executor.memory !== undefined ? 'executor.memory' : 'job.resources.memory') } : {}),
    labels: { ...podLabels },
    ...(envVars.length > 0 ? { env: envVars } : {}),
  };
  // Pod templates (and so job.timeout, which rides on the driver's) reach the pods through
  // spark.kubernetes.*.podTemplateFile, which Spark reads from 3.0 on.
  const major = Number((c.sparkVersion ?? '').split('.')[0]);
  if (major < 3) {
    const key = kc.driverPodTemplate !== undefined ? 'kubernetes.driverPodTemplate' : kc.executorPodTemplate !== undefined ? 'kubernetes.executorPodTemplate' : input.job.timeout !== undefined ? 'job.timeout' : undefined;
    if (key !== undefined) {
      throw problemAt(input, 'SPARK_CONFIG_INVALID', key, `${key} needs Spark 3.0 or newer with submit: operator (it becomes a pod template, which Spark ${c.sparkVersion ?? ''} ignores)`, ['use an image with Spark 3 or newer (and say so in sparkVersion), or remove it']);
    }
  }
  if (kc.driverPodTemplate !== undefined) driver['template'] = podTemplate(input, 'kubernetes.driverPodTemplate', kc.driverPodTemplate);
  if (kc.executorPodTemplate !== undefined) executor['template'] = podTemplate(input, 'kubernetes.executorPodTemplate', kc.executorPodTemplate);

  // job.timeout: the operator has no deadline of its own, but the driver pod can have one
  // (activeDeadlineSeconds): the kubelet then kills the driver, the application fails, and its
  // executors (owned by the driver pod) go with it — on the cluster, even when ferry is not waiting.
  if (input.job.timeout !== undefined) {
    const ms = parseDuration(input.job.timeout);
    if (ms === undefined) throw problemAt(input, 'SPARK_CONFIG_INVALID', 'job.timeout', `job.timeout ${JSON.stringify(input.job.timeout)} is not a duration`, ['use a duration such as "90s", "30m" or "1h30m"']);
    const tpl = (driver['template'] ?? {}) as Obj;
    const tplSpec = (tpl['spec'] ?? {}) as Obj;
    if (tplSpec['activeDeadlineSeconds'] !== undefined) notes.push(`job.timeout replaces the driver pod template's own activeDeadlineSeconds (${JSON.stringify(tplSpec['activeDeadlineSeconds'])})`);
    driver['template'] = { ...tpl, spec: { ...tplSpec, activeDeadlineSeconds: Math.max(1, Math.ceil(ms / 1000)) } };
    notes.push(`job.timeout ${input.job.timeout}: the driver pod's activeDeadlineSeconds (the application fails when it passes)`);
  }
  if (input.job.command !== undefined) notes.push('job.command is not used: the Spark operator runs spark-submit');

  const deps: Obj = {};
  if (c.jars.length > 0) deps['jars'] = c.jars.map(uri);
  if (c.files.length > 0) deps['files'] = c.files.map(uri);
  if (c.pyFiles.length > 0) deps['pyFiles'] = c.pyFiles.map(uri);
  if (c.packages.length > 0) deps['packages'] = c.packages;
  if (c.repositories.length > 0) deps['repositories'] = c.repositories;
  const sparkConf = Object.fromEntries(Object.entries(c.conf).map(([k, v]) => [k, String(v)]));

  const spec: Obj = {
    type,
    sparkVersion: c.sparkVersion ?? '',
    mode: 'cluster',
    image: input.image.ref,
    // The image is pinned by digest: what the node has under it is the image, no need to pull again.
    imagePullPolicy: 'IfNotPresent',
    ...(kc.imagePullSecrets.length > 0 ? { imagePullSecrets: kc.imagePullSecrets } : {}),
    ...(c.mainClass !== undefined ? { mainClass: c.mainClass } : {}),
    mainApplicationFile: uri(c.app),
    ...(input.job.args !== undefined && input.job.args.length > 0 ? { arguments: input.job.args } : {}),
    ...(Object.keys(sparkConf).length > 0 ? { sparkConf } : {}),
    ...(Object.keys(deps).length > 0 ? { deps } : {}),
    driver,
    executor,
    // One attempt, as ferry's other targets: a failed run is reported, not run again.
    restartPolicy: { type: 'Never' },
  };
  const labels: Record<string, string> = { ...podLabels };
  const hash = specHash(namespace ?? '', { labels, spec });
  const name = `${baseName(input)}-${hash}`;
  const allLabels: Record<string, string> = { ...labels, [SPEC_HASH_LABEL]: hash, ...(deployId !== undefined ? { [DEPLOY_ID_LABEL]: deployId } : {}) };
  // The pods carry the run's labels too, so `kubectl get pods -l ferry/deploy-id=…` finds them.
  driver['labels'] = { ...(driver['labels'] as Obj), ...allLabels };
  executor['labels'] = { ...(executor['labels'] as Obj), ...allLabels };
  const app: Obj = {
    apiVersion: `${SPARK_APPLICATION.group}/${SPARK_APPLICATION.version}`,
    kind: SPARK_APPLICATION.kind,
    metadata: { name, ...(namespace !== undefined ? { namespace } : {}), labels: allLabels },
    spec,
  };
  return { name, hash, app, notes };
}

export { IN_CLUSTER_MASTER };
