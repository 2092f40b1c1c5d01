/**
 * What a Spark deploy runs, worked out from ferry.yaml without any I/O but file existence checks:
 * the spark-submit arguments, and the container (on this machine's engine, from the pinned image)
 * that runs them. Every value that Spark would refuse, or that would quietly undo what ferry sets,
 * fails here with a SPARK_* code naming its ferry.yaml key, before the build and before anything runs.
 *
 * Where things run (the reason for most rules below):
 *  - local[*] and spark://: spark-submit runs in client mode inside the image, so the driver is
 *    that container (Spark refuses cluster mode for Python apps on standalone masters, and a JVM
 *    driver in cluster mode would run on a worker, outside the image). Executors of a standalone
 *    master run on its workers, with the workers' own Spark and Python.
 *  - k8s://: spark-submit runs in the image in cluster mode; it creates the driver pod (of the
 *    same image, spark.kubernetes.container.image) and returns (waitAppCompletion=false). The
 *    driver pod is then the run.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { configError, ExitCode, FerryError } from '../../core/errors.js';
import { parseCpu, parseMemory } from '../../core/quantities.js';
import type { DeployInput } from '../../core/target.js';
import { parseVolume, type VolumeSpec } from '../local/spec.js';
import type { SparkTargetConfig } from './schema.js';

export type SparkMode = 'local' | 'standalone' | 'k8s';

export interface SparkSubmit {
  mode: SparkMode;
  master: string;
  deployMode: 'client' | 'cluster';
  /** spark-submit's arguments (after the spark-submit command itself). */
  argv: string[];
  /** The container that runs spark-submit. */
  container: {
    name: string;
    /** [sparkSubmit]: replaces the image's ENTRYPOINT. */
    command: string[];
    env: [string, string][];
    volumes: VolumeSpec[];
    network: string;
    labels: Record<string, string>;
  };
  /**
   * job.env, whose values may be secrets: never on a command line (where `ps` shows it) nor in the
   * plan. Only its keys are here; deploy puts the values (privateFiles, private-files.ts) into the
   * container's environment (the client-mode driver is that container) and into a properties file
   * spark-submit reads (--properties-file), as Spark settings naming the env key they carry.
   */
  jobEnv: { keys: string[]; container: boolean; properties: { name: string; env: string }[] };
  /** Files the command line names in the image (local:// and file:// paths), by ferry.yaml key: checked before spark-submit runs. */
  imageFiles: { key: string; path: string }[];
  /** k8s://: the driver pod ferry names, and where it lives. */
  kubernetes?: { namespace: string; driverPod: string; kubeconfig: string; context?: string };
  /** For `ferry plan`: what was chosen and why. */
  notes: string[];
}

/** Where files the container needs from this machine are mounted. */
const MOUNT_ROOT = '/ferry';
export const KUBECONFIG_IN_CONTAINER = `${MOUNT_ROOT}/kube/config`;
/** Where spark-submit finds the Spark settings that carry job.env (written by deploy, see jobEnv). */
export const PROPERTIES_IN_CONTAINER = `${MOUNT_ROOT}/conf/spark-submit.properties`;

type Input = DeployInput<SparkTargetConfig>;

/**
 * A configuration problem at a key of the target (details.key, relative to the target unless it
 * starts with job.); sparkSubmitFor adds the ferry.yaml position.
 */
const problem = (code: string, key: string, message: string, hint: string): FerryError =>
  new FerryError(code, message, { exitCode: ExitCode.CONFIG, suggestions: [hint], details: { problemKey: key } });

/** The master URL's kind, or a SPARK_MASTER_INVALID problem. */
export function masterKind(master: string): SparkMode {
  if (/^local(\[(\*|[1-9]\d*)(,[1-9]\d*)?\])?$/.test(master)) return 'local';
  const hostPort = String.raw`[A-Za-z0-9.-]+:\d{1,5}`;
  if (new RegExp(`^spark://${hostPort}(,${hostPort})*$`).test(master)) return 'standalone';
  if (/^k8s:\/\/(https?:\/\/)?[A-Za-z0-9.\-[\]:]+(:\d{1,5})?(\/\S*)?$/.test(master)) return 'k8s';
  const why = /^(yarn|mesos:)/.test(master)
    ? `ferry drives local, standalone (spark://) and Kubernetes (k8s://) masters, not ${master.split(':')[0] ?? master}`
    : master.startsWith('spark://')
      ? 'a standalone master is spark://HOST:PORT (every host with its port, e.g. spark://master:7077)'
      : master.startsWith('k8s://')
        ? 'a Kubernetes master is k8s://https://HOST:PORT (the API server)'
        : 'it is not local, local[N], local[*], spark://HOST:PORT or k8s://https://HOST:PORT';
  throw problem('SPARK_MASTER_INVALID', 'master', `master "${master}": ${why}`, 'write local[*], spark://HOST:7077 or k8s://https://HOST:6443');
}

/** A file ferry.yaml names for spark-submit: in the image, a URL, or a file of this machine. */
export type FileRef = { kind: 'image'; uri: string } | { kind: 'remote'; uri: string } | { kind: 'host'; path: string };

const REMOTE = /^(https?|s3a?|s3n|hdfs|gs|abfss?|wasbs?|oss|cos|viewfs):\/\//;

export function classify(value: string, baseDir: string): FileRef {
  if (value.startsWith('local://')) return { kind: 'image', uri: value };
  if (value.startsWith('file://')) return { kind: 'image', uri: value };
  if (REMOTE.test(value)) return { kind: 'remote', uri: value };
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(value)) return { kind: 'remote', uri: value };
  if (value.startsWith('/')) return { kind: 'image', uri: `local://${value}` };
  return { kind: 'host', path: path.resolve(baseDir, value) };
}

/** Conf keys ferry sets itself: a user value would undo the pin, the mode or ferry's handle on the run. */
const OWNED: Record<string, string> = {
  'spark.master': 'master',
  'spark.submit.deployMode': 'the master (ferry picks client or cluster mode from it)',
  'spark.kubernetes.container.image': 'the image ferry built and pushed, pinned by digest',
  'spark.kubernetes.driver.container.image': 'the image ferry built and pushed, pinned by digest',
  'spark.kubernetes.executor.container.image': 'the image ferry built and pushed, pinned by digest',
  'spark.kubernetes.driver.pod.name': "ferry's name for the driver pod, which status, logs and cancel look for",
  'spark.kubernetes.submission.waitAppCompletion': 'ferry, which waits for the driver pod itself',
  'spark.kubernetes.namespace': 'kubernetes.namespace',
};

/** Conf keys that repeat a typed key of the target: refused only when both are set. */
const TYPED: Record<string, (c: SparkTargetConfig) => unknown> = {
  'spark.app.name': (c) => c.name,
  'spark.driver.memory': (c) => c.driver.memory,
  'spark.driver.cores': (c) => c.driver.cores,
  'spark.executor.memory': (c) => c.executor.memory,
  'spark.executor.cores': (c) => c.executor.cores,
  'spark.executor.instances': (c) => c.executor.instances,
  'spark.jars': (c) => (c.jars.length > 0 ? c.jars : undefined),
  'spark.submit.pyFiles': (c) => (c.pyFiles.length > 0 ? c.pyFiles : undefined),
  'spark.files': (c) => (c.files.length > 0 ? c.files : undefined),
  'spark.jars.packages': (c) => (c.packages.length > 0 ? c.packages : undefined),
  'spark.jars.repositories': (c) => (c.repositories.length > 0 ? c.repositories : undefined),
  'spark.kubernetes.authenticate.driver.serviceAccountName': (c) => c.kubernetes?.serviceAccount,
  'spark.kubernetes.driver.podTemplateFile': (c) => c.kubernetes?.driverPodTemplate,
  'spark.kubernetes.executor.podTemplateFile': (c) => c.kubernetes?.executorPodTemplate,
  'spark.kubernetes.context': (c) => c.kubernetes?.context,
};
const TYPED_KEY: Record<string, string> = {
  'spark.app.name': 'name',
  'spark.driver.memory': 'driver.memory',
  'spark.driver.cores': 'driver.cores',
  'spark.executor.memory': 'executor.memory',
  'spark.executor.cores': 'executor.cores',
  'spark.executor.instances': 'executor.instances',
  'spark.jars': 'jars',
  'spark.submit.pyFiles': 'pyFiles',
  'spark.files': 'files',
  'spark.jars.packages': 'packages',
  'spark.jars.repositories': 'repositories',
  'spark.kubernetes.authenticate.driver.serviceAccountName': 'kubernetes.serviceAccount',
  'spark.kubernetes.driver.podTemplateFile': 'kubernetes.driverPodTemplate',
  'spark.kubernetes.executor.podTemplateFile': 'kubernetes.executorPodTemplate',
  'spark.kubernetes.context': 'kubernetes.context',
};

type ConfType = 'int' | 'boolean' | 'size' | 'duration';
/** The types of common Spark settings (Spark's own config definitions): a wrong one fails at submit, or worse, later. */
const CONF_TYPES: Record<string, ConfType> = {
  'spark.executor.instances': 'int',
  'spark.executor.cores': 'int',
  'spark.driver.cores': 'int',
  'spark.cores.max': 'int',
  'spark.task.cpus': 'int',
  'spark.task.maxFailures': 'int',
  'spark.default.parallelism': 'int',
  'spark.sql.shuffle.partitions': 'int',
  'spark.dynamicAllocation.minExecutors': 'int',
  'spark.dynamicAllocation.maxExecutors': 'int',
  'spark.dynamicAllocation.initialExecutors': 'int',
  'spark.port.maxRetries': 'int',
  'spark.driver.port': 'int',
  'spark.blockManager.port': 'int',
  'spark.dynamicAllocation.enabled': 'boolean',
  'spark.dynamicAllocation.shuffleTracking.enabled': 'boolean',
  'spark.eventLog.enabled': 'boolean',
  'spark.ui.enabled': 'boolean',
  'spark.speculation': 'boolean',
  'spark.sql.adaptive.enabled': 'boolean',
  'spark.shuffle.service.enabled': 'boolean',
  'spark.driver.memory': 'size',
  'spark.executor.memory': 'size',
  'spark.driver.maxResultSize': 'size',
  'spark.driver.memoryOverhead': 'size',
  'spark.executor.memoryOverhead': 'size',
  'spark.executor.pyspark.memory': 'size',
  'spark.network.timeout': 'duration',
  'spark.executor.heartbeatInterval': 'duration',
  'spark.dynamicAllocation.executorIdleTimeout': 'duration',
};

function confTypeOk(type: ConfType, v: string | number | boolean): boolean {
  const s = String(v).trim();
  switch (type) {
    case 'int':
      return /^-?\d+$/.test(s);
    case 'boolean':
      return s === 'true' || s === 'false';
    case 'size':
      // What Spark's JavaUtils.byteStringAs takes (after its trim): digits, then at once an optional
      // b, k, kb, m, mb, g, gb, t, tb, p or pb in any case. No space, fraction or Kubernetes "Gi".
      return /^\d+(b|[kmgtp]b?)?$/i.test(s);
    case 'duration':
      return /^\d+\s*(us|ms|s|m|min|h|d)?$/i.test(s);
  }
}

const CONF_HELP: Record<ConfType, string> = {
  int: 'a whole number',
  boolean: 'true or false',
  size: 'a size as Spark writes it, digits then a unit with no space: 512m, 2g (b, k, m, g, t, p; kb, mb, … too)',
  duration: 'a duration as Spark writes it: 120s, 5min, 1h',
};

/** Bytes as Spark's memory strings take them: whole MiB as "512m", else KiB. */
export function sparkSize(bytes: number): string {
  return bytes % 1024 ** 2 === 0 ? `${bytes / 1024 ** 2}m` : `${Math.ceil(bytes / 1024)}k`;
}

export function memoryValue(v: string | number, key: string): string {
  // Spark's own spelling (2g, 512m) is also docker's, which parseMemory takes, as is Kubernetes' (2Gi).
  const bytes = parseMemory(typeof v === 'string' ? v.replace(/^(\d+)([kmgt])$/i, (_m, n: string, u: string) => `${n}${u.toLowerCase()}`) : v);
  if (bytes === undefined || bytes < 1024 ** 2) {
    throw problem('SPARK_CONFIG_INVALID', key, `${key} "${String(v)}" is not a memory size of at least 1 MiB`, 'write it as Spark does (512m, 2g) or as Kubernetes does (512Mi, 2Gi)');
  }
  return sparkSize(bytes);
}

const MAVEN = /^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_.+-]+$/;

/** DNS-1123 label pieces for pod names: lowercase letters, digits and -. */
export function dnsPart(s: string, max: number): string {
  return s.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, max).replace(/-+$/, '');
}

export function driverPodName(target: string, runId: string): string {
  // Pod names: at most 63 characters (Spark also derives executor and service names from it).
  return `ferry-${dnsPart(target, 24)}-${dnsPart(runId, 21)}-driver`;
}

export function containerNameFor(target: string, runId: string): string {
  return `ferry-spark-${target}-${runId}`;
}

export interface SubmitContext {
  /** The run id (a placeholder in check()). */
  runId: string;
  /** ferry's environment: KUBECONFIG and HOME for the default kubeconfig. */
  env: NodeJS.ProcessEnv;
  /**
   * submit: operator: only the checks (files, conf, sizes) run here; ferry finds the kubeconfig
   * itself (as kubectl does, in-cluster too), so a missing file is not an error of this path.
   */
  operator?: boolean;
}

/**
 * The spark-submit line and container for this input, or a problem (a FerryError) naming the key.
 * sparkSubmitFor adds the ferry.yaml position.
 */
export function buildSubmit(input: Input, sc: SubmitContext): SparkSubmit {
  const c = input.config;
  const baseDir = path.dirname(input.file);
  // The schema requires master with spark-submit; the operator path checks with a k8s:// one.
  const master = c.master ?? 'k8s://https://kubernetes.default.svc';
  const mode = masterKind(master);
  const k8s = mode === 'k8s';
  const notes: string[] = [];
  const volumes: VolumeSpec[] = [];
  let mounts = 0;
  const imageFiles: SparkSubmit['imageFiles'] = [];

  if (!k8s && c.kubernetes !== undefined) {
    throw problem('SPARK_CONFIG_INVALID', 'kubernetes', `kubernetes settings apply only to a k8s:// master, not ${master}`, 'remove the kubernetes section, or set master to k8s://https://HOST:PORT');
  }
  if (k8s && c.volumes.length > 0) {
    throw problem('SPARK_CONFIG_INVALID', 'volumes', 'volumes mount into the spark-submit container, but with a k8s:// master the driver runs in a pod', 'give the driver and executors volumes in kubernetes.driverPodTemplate / executorPodTemplate');
  }
  const gpu = input.job.resources?.gpu ?? 0;
  if (gpu > 0) {
    throw problem('SPARK_CONFIG_INVALID', 'job.resources.gpu', 'job.resources.gpu has no single meaning for a Spark application (driver, executors, tasks)', 'remove it and set conf spark.executor.resource.gpu.amount (and spark.task.resource.gpu.amount) instead');
  }

  /** A file for spark-submit: its URI on the command line, mounting it when it is on this machine. */
  const fileArg = (value: string, key: string, mustExist = true): string => {
    const ref = classify(value, baseDir);
    if (ref.kind === 'image') imageFiles.push({ key, path: ref.uri.replace(/^(local|file):\/\//, '') });
    if (ref.kind !== 'host') {
      if (k8s && ref.uri.startsWith('file://')) {
        throw problem('SPARK_FILE_NOT_IN_IMAGE', key, `${key} "${value}" is a file:// path, which spark-submit would upload from its own container`, 'write local:///PATH for a file in the image, or a URL the cluster can read');
      }
      return ref.uri;
    }
    if (k8s) {
      throw problem(
        'SPARK_FILE_NOT_IN_IMAGE',
        key,
        `${key} "${value}" is a file on this machine, but with a k8s:// master the driver runs in a pod, which cannot read it`,
        `COPY it into the image and write local:///PATH, or use a URL the cluster can read (s3a://, https://)`,
      );
    }
    if (mustExist && (!existsSync(ref.path) || !statSync(ref.path).isFile())) {
      throw problem('SPARK_FILE_NOT_FOUND', key, `${key} "${value}": ${ref.path} is not a file`, 'a relative path is relative to ferry.yaml; fix it, or write local:///PATH for a file in the image');
    }
    // Like a build context, the project never hands out what lies outside it: a path (or a
    // symlink) leading out of ferry.yaml's folder (to ~/.aws/credentials, say) is refused, since
    // spark-submit would mount it and, on a cluster, ship it to the executors.
    const real = existsSync(ref.path) ? realpathSync(ref.path) : ref.path;
    const root = existsSync(baseDir) ? realpathSync(baseDir) : baseDir;
    if (real !== root && !real.startsWith(root + path.sep)) {
      throw problem('SPARK_FILE_OUTSIDE_PROJECT', key, `${key} "${value}" leads to ${real}, outside the project folder ${root}`, 'copy the file into the project (next to ferry.yaml), COPY it into the image and write local:///PATH, or use a URL');
    }
    const inContainer = `${MOUNT_ROOT}/files/${String(mounts++)}/${path.basename(ref.path)}`;
    volumes.push({ source: ref.path, named: false, target: inContainer, readOnly: true, options: [] });
    return inContainer;
  };

  // The application.
  const appRef = classify(c.app, baseDir);
  const isPython = /\.py$/i.test(c.app);
  if (isPython && c.mainClass !== undefined) {
    throw problem('SPARK_CONFIG_INVALID', 'mainClass', `mainClass is for JVM applications; app ${c.app} is a Python file`, 'remove mainClass');
  }
  if (/\.jar$/i.test(c.app) && c.mainClass === undefined) {
    // spark-submit would fail only in the pulled image ("Cannot load main class from JAR"), after
    // the build and push: say it now.
    throw problem('SPARK_CONFIG_INVALID', 'mainClass', `app ${c.app} is a JVM application, which needs mainClass`, 'set mainClass: to the class with main(), e.g. com.example.Main');
  }
  if (!isPython && !/\.(jar|r|R)$/.test(c.app)) {
    throw problem('SPARK_CONFIG_INVALID', 'app', `app "${c.app}" is neither a .py file nor a .jar`, 'name the application file: local:///app/job.py or local:///app/job.jar');
  }
  const app = fileArg(c.app, 'app');
  if (appRef.kind === 'host') notes.push(`the application ${c.app} is mounted read-only from this machine at ${app}`);

  // Conf: Spark keys only, none of ferry's, none twice, common ones of the right type.
  for (const [key, value] of Object.entries(c.conf)) {
    const where = `conf.${key}`;
    // spark-submit splits --conf K=V at the first =, so "spark.master=local" would set spark.master
    // past the checks below; white space in a key is never a Spark setting either.
    if (/[=\s]/.test(key)) {
      throw problem('SPARK_CONF_INVALID', where, `conf key ${JSON.stringify(key)} has ${key.includes('=') ? 'an =' : 'white space'} in it, which spark-submit would read as another key`, 'write the Spark key alone as the conf key and its value as the value: {spark.sql.shuffle.partitions: 64}');
    }
    if (!key.startsWith('spark.')) {
      throw problem('SPARK_CONF_INVALID', where, `conf key ${key} does not start with spark. (spark-submit ignores such keys with a warning)`, 'write the full Spark key, e.g. spark.sql.shuffle.partitions; Hadoop settings are spark.hadoop.*');
    }
    const owner = OWNED[key];
    if (owner !== undefined) {
      throw problem('SPARK_CONF_CONFLICT', where, `conf ${key} is set by ferry from ${owner}`, key === 'spark.master' ? 'set master instead' : key === 'spark.kubernetes.namespace' ? 'set kubernetes.namespace instead' : `remove it from conf`);
    }
    const typed = TYPED[key];
    if (typed?.(c) !== undefined) {
      throw problem('SPARK_CONF_CONFLICT', where, `conf ${key} repeats ${TYPED_KEY[key] ?? 'a key of the target'}, which is set too`, `set it once: keep ${TYPED_KEY[key] ?? 'the target key'} and remove conf ${key}`);
    }
    const type = CONF_TYPES[key];
    if (type !== undefined && !confTypeOk(type, value)) {
      throw problem('SPARK_CONF_INVALID', where, `conf ${key} is ${JSON.stringify(value)}, but Spark reads it as ${CONF_HELP[type]}`, `write ${CONF_HELP[type]}`);
    }
  }
  for (const [i, p] of c.packages.entries()) {
    if (!MAVEN.test(p)) throw problem('SPARK_CONFIG_INVALID', `packages.${String(i)}`, `package "${p}" is not Maven coordinates group:artifact:version`, 'write e.g. org.apache.spark:spark-avro_2.13:4.0.0');
  }

  const argv: string[] = ['--master', master, '--deploy-mode', k8s ? 'cluster' : 'client', '--name', c.name ?? `ferry-${input.target}`];
  if (c.mainClass !== undefined) argv.push('--class', c.mainClass);
  const list = (flag: string, values: string[], key: string): void => {
    if (values.length > 0) argv.push(flag, values.map((v, i) => fileArg(v, `${key}.${String(i)}`)).join(','));
  };
  list('--py-files', c.pyFiles, 'pyFiles');
  list('--jars', c.jars, 'jars');
  list('--files', c.files, 'files');
  if (c.packages.length > 0) argv.push('--packages', c.packages.join(','));
  if (c.repositories.length > 0) argv.push('--repositories', c.repositories.join(','));

  // Resources: the target's keys, else job.resources for the executors.
  if (c.driver.memory !== undefined) argv.push('--driver-memory', memoryValue(c.driver.memory, 'driver.memory'));
  if (c.driver.cores !== undefined) {
    if (!k8s) notes.push('driver.cores applies in cluster mode only: the client-mode driver is the spark-submit container');
    else argv.push('--driver-cores', String(c.driver.cores));
  }
  const jobMemory = input.job.resources?.memory;
  const execMemory = c.executor.memory ?? jobMemory;
  if (execMemory !== undefined && mode !== 'local') argv.push('--executor-memory', memoryValue(execMemory, c.executor.memory !== undefined ? 'executor.memory' : 'job.resources.memory'));
  const jobCpu = input.job.resources?.cpu === undefined ? undefined : parseCpu(input.job.resources.cpu);
  if (mode !== 'local') {
    if (c.executor.cores !== undefined) argv.push('--executor-cores', String(c.executor.cores));
    else if (jobCpu !== undefined && Number.isInteger(jobCpu)) argv.push('--executor-cores', String(jobCpu));
    else if (jobCpu !== undefined && k8s) argv.push('--conf', `spark.kubernetes.executor.request.cores=${String(input.job.resources?.cpu ?? '')}`);
    else if (jobCpu !== undefined) notes.push(`job.resources.cpu ${String(input.job.resources?.cpu ?? '')} is not a whole number of cores: not passed to a standalone master (set executor.cores)`);
  }
  if (c.executor.instances !== undefined) argv.push('--conf', `spark.executor.instances=${String(c.executor.instances)}`);
  if (mode === 'local' && (c.executor.memory !== undefined || c.executor.cores !== undefined || c.executor.instances !== undefined)) {
    notes.push('executor settings do not apply to a local master: the whole application runs in the spark-submit container (set driver.memory)');
  }
  if (input.job.command !== undefined) notes.push('job.command is not used: the Spark target runs spark-submit (the sparkSubmit key)');
  if (input.job.timeout !== undefined) {
    notes.push(
      `job.timeout ${input.job.timeout}: while ferry waits, a run still going then is stopped (${k8s ? 'the driver pod deleted' : 'the spark-submit container stopped'}) and ferry fails with RUN_TIMEOUT (exit 75); not applied after --async or a detached Ctrl-C`,
    );
  }

  const env: [string, string][] = [];
  // job.env reaches the driver and the executors: in client mode the driver is this container.
  // Its values go in files deploy writes (see jobEnv), never on spark-submit's command line.
  const envKeys = Object.keys(input.job.env);
  const properties: SparkSubmit['jobEnv']['properties'] = [];
  for (const k of envKeys) {
    if (k8s) properties.push({ name: `spark.kubernetes.driverEnv.${k}`, env: k });
    if (mode !== 'local') properties.push({ name: `spark.executorEnv.${k}`, env: k });
  }
  if (properties.length > 0) {
    argv.push('--properties-file', PROPERTIES_IN_CONTAINER);
    // Spark reads conf/spark-defaults.conf only when no --properties-file is given (Spark 4 has
    // --load-spark-defaults for both, which Spark 3 refuses): say so, since the image's defaults
    // then do not apply.
    notes.push(`job.env (${envKeys.join(', ')}) reaches Spark through ${PROPERTIES_IN_CONTAINER}, a private file mounted read-only, so its values are on no command line; spark-submit then skips the image's conf/spark-defaults.conf (set those in conf:)`);
  }

  let kubernetes: SparkSubmit['kubernetes'];
  if (k8s) {
    const kc = c.kubernetes ?? { namespace: 'default', imagePullSecrets: [], labels: {} };
    const driverPod = driverPodName(input.target, sc.runId);
    argv.push(
      '--conf', `spark.kubernetes.container.image=${input.image.ref}`,
      '--conf', `spark.kubernetes.namespace=${kc.namespace}`,
      '--conf', `spark.kubernetes.driver.pod.name=${driverPod}`,
      '--conf', 'spark.kubernetes.submission.waitAppCompletion=false',
      '--conf', `spark.kubernetes.driver.label.ferry.dev/run=${dnsPart(sc.runId, 63)}`,
      '--conf', `spark.kubernetes.executor.label.ferry.dev/run=${dnsPart(sc.runId, 63)}`,
    );
    if (kc.serviceAccount !== undefined) argv.push('--conf', `spark.kubernetes.authenticate.driver.serviceAccountName=${kc.serviceAccount}`);
    if (kc.context !== undefined) argv.push('--conf', `spark.kubernetes.context=${kc.context}`);
    if (kc.imagePullSecrets.length > 0) argv.push('--conf', `spark.kubernetes.container.image.pullSecrets=${kc.imagePullSecrets.join(',')}`);
    for (const [k, v] of Object.entries(kc.labels)) argv.push('--conf', `spark.kubernetes.driver.label.${k}=${v}`, '--conf', `spark.kubernetes.executor.label.${k}=${v}`);
    for (const [which, file] of [['driver', kc.driverPodTemplate], ['executor', kc.executorPodTemplate]] as const) {
      if (file === undefined) continue;
      const key = `kubernetes.${which}PodTemplate`;
      const host = path.resolve(baseDir, file);
      if (!existsSync(host) || !statSync(host).isFile()) throw problem('SPARK_FILE_NOT_FOUND', key, `${key} ${host} is not a file`, 'a relative path is relative to ferry.yaml');
      const inContainer = `${MOUNT_ROOT}/pod-templates/${which}.yaml`;
      volumes.push({ source: host, named: false, target: inContainer, readOnly: true, options: [] });
      argv.push('--conf', `spark.kubernetes.${which}.podTemplateFile=${inContainer}`);
    }
    const kubeconfig = kubeconfigPath(kc.kubeconfig, baseDir, sc.env);
    if (sc.operator !== true && !existsSync(kubeconfig)) {
      throw problem('SPARK_KUBECONFIG_NOT_FOUND', kc.kubeconfig === undefined ? 'kubernetes' : 'kubernetes.kubeconfig', `the kubeconfig ${kubeconfig} does not exist`, 'set kubernetes.kubeconfig (relative to ferry.yaml), or KUBECONFIG, to a kubeconfig with embedded credentials');
    }
    volumes.push({ source: kubeconfig, named: false, target: KUBECONFIG_IN_CONTAINER, readOnly: true, options: [] });
    env.push(['KUBECONFIG', KUBECONFIG_IN_CONTAINER]);
    kubernetes = { namespace: kc.namespace, driverPod, kubeconfig, ...(kc.context === undefined ? {} : { context: kc.context }) };
    notes.push(`spark-submit runs in the image on this machine (kubeconfig ${kubeconfig} mounted read-only), creates driver pod ${kc.namespace}/${driverPod} and returns; ferry then follows that pod`);
  } else {
    notes.push(
      mode === 'local'
        ? 'the whole application runs in the spark-submit container, in the image pinned by digest'
        : 'client mode: the driver is the spark-submit container (the image pinned by digest); executors run on the workers, with the cluster\'s Spark and Python',
    );
  }
  const userVolumes: VolumeSpec[] = [];
  for (const [i, v] of c.volumes.entries()) {
    userVolumes.push(parseVolume(v, baseDir, { kind: 'config', where: `${input.file} (targets.${input.target}.volumes.${String(i)})` }, sc.env['HOME']));
  }
  volumes.push(...userVolumes);
  // A file under one of the user's volumes is in the container at run time, not in the image:
  // the image check must not look for it there.
  const mounted = (file: string): boolean => userVolumes.some((v) => file === v.target || file.startsWith(`${v.target.replace(/\/+$/, '')}/`));
  const checkedInImage = imageFiles.filter((f) => !mounted(f.path));
  imageFiles.length = 0;
  imageFiles.push(...checkedInImage);
  for (const [key, value] of Object.entries(c.conf)) argv.push('--conf', `${key}=${String(value)}`);
  argv.push(app, ...(input.job.args ?? []));

  return {
    mode,
    master,
    deployMode: k8s ? 'cluster' : 'client',
    argv,
    container: {
      name: containerNameFor(input.target, sc.runId),
      command: [c.sparkSubmit],
      env,
      volumes,
      network: c.network,
      labels: { 'dev.ferry.target': input.target, 'dev.ferry.run': sc.runId, 'dev.ferry.kind': 'spark-submit' },
    },
    ...(kubernetes === undefined ? {} : { kubernetes }),
    jobEnv: { keys: envKeys, container: !k8s, properties },
    imageFiles,
    notes,
  };
}

function kubeconfigPath(configured: string | undefined, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (configured !== undefined) return path.resolve(baseDir, configured);
  // KUBECONFIG may list several files (kubectl merges them); spark-submit's client reads one.
  const fromEnv = (env['KUBECONFIG'] ?? '').split(path.delimiter).find((f) => f !== '');
  if (fromEnv !== undefined) return path.resolve(fromEnv);
  return path.join(env['HOME'] ?? homedir(), '.kube', 'config');
}

/** A coded configuration error at a key of the target (or of job), with its ferry.yaml position. */
export function problemAt(input: Input, code: string, key: string, message: string, suggestions: string[]): FerryError {
  const keyPath = key.startsWith('job.') ? key.split('.') : key.startsWith('conf.') ? ['targets', input.target, 'conf', key.slice('conf.'.length)] : ['targets', input.target, ...key.split('.')];
  const at = input.locate?.(keyPath);
  const shown = key.startsWith('job.') ? key : `targets.${input.target}.${key}`;
  return configError(code, `${message} (target ${input.target}, type spark)`, {
    where: `${at ?? input.file} (${shown})`,
    details: { target: input.target, key: shown },
    suggestions,
  });
}

/** buildSubmit, with problems turned into coded configuration errors at their ferry.yaml key. */
export function sparkSubmitFor(input: Input, sc: SubmitContext): SparkSubmit {
  try {
    return buildSubmit(input, sc);
  } catch (e) {
    const key = e instanceof FerryError ? e.details?.['problemKey'] : undefined;
    if (!(e instanceof FerryError) || typeof key !== 'string') throw e;
    throw problemAt(input, e.code, key, e.message, e.suggestions);
  }
}
