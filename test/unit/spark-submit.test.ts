import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import type { DeployInput } from '../../src/core/target.js';
import { sparkTargetSchema, type SparkTargetConfig } from '../../src/targets/spark/schema.js';
import { driverPodName, masterKind, sparkSubmitFor, sparkSize } from '../../src/targets/spark/submit.js';
import { thrown } from '../helpers/errors.js';

/**
 * The spark-submit line and container the Spark target makes from ferry.yaml, and the coded errors
 * for what Spark would refuse or what would undo ferry's pin. (The line itself runs against a real
 * standalone cluster in test/e2e/cli-spark.test.ts, and in cluster mode against the fake API server
 * in test/e2e/cli-spark-k8s.test.ts.)
 */
let dir: string;
let kubeconfig: string;
const IMAGE = `registry.example.com/team/job@sha256:${'a'.repeat(64)}`;
const RUN_ID = '20261129-0123456789ab';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-spark-unit-'));
  await writeFile(path.join(dir, 'job.py'), 'print(1)\n');
  await writeFile(path.join(dir, 'driver.yaml'), 'apiVersion: v1\nkind: Pod\n');
  kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\n');
});

function input(config: Record<string, unknown>, job: Partial<DeployInput<SparkTargetConfig>['job']> = {}): DeployInput<SparkTargetConfig> {
  return {
    target: 'nightly',
    config: sparkTargetSchema.parse({ type: 'spark', ...config }),
    image: { ref: IMAGE, digest: `sha256:${'a'.repeat(64)}`, configDigest: `sha256:${'b'.repeat(64)}`, platform: 'linux/amd64' },
    job: { env: {}, ...job },
    file: path.join(dir, 'ferry.yaml'),
    locate: (k) => `ferry.yaml:9:5 [${k.join('.')}]`,
  };
}

const submit = (config: Record<string, unknown>, job: Partial<DeployInput<SparkTargetConfig>['job']> = {}) =>
  sparkSubmitFor(input(config, job), { runId: RUN_ID, env: { HOME: dir } });

function failure(config: Record<string, unknown>, job: Partial<DeployInput<SparkTargetConfig>['job']> = {}): FerryError {
  const e = thrown(() => submit(config, job));
  if (!(e instanceof FerryError)) throw new Error(`expected a FerryError, got ${String(e)}`);
  return e;
}

/** The value of each --conf, by key. */
function confs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  argv.forEach((a, i) => {
    if (a !== '--conf') return;
    const kv = argv[i + 1] ?? '';
    out[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  });
  return out;
}

describe('masters', () => {
  it('knows local, standalone and Kubernetes masters', () => {
    expect(['local', 'local[*]', 'local[4]', 'local[2,3]'].map(masterKind)).toEqual(['local', 'local', 'local', 'local']);
    expect(masterKind('spark://m1:7077,m2:7077')).toBe('standalone');
    expect(masterKind('k8s://https://10.0.0.1:6443')).toBe('k8s');
    expect(masterKind('k8s://api.example.com')).toBe('k8s');
  });

  it.each(['yarn', 'spark://master', 'k8s://', 'local[0]', 'http://master:7077', 'mesos://m:5050'])('refuses %s as SPARK_MASTER_INVALID at the master key', (master) => {
    const e = failure({ master, app: 'local:///app/job.py' });
    expect(e.code).toBe('SPARK_MASTER_INVALID');
    expect(e.exitCode).toBe(78);
    expect(e.where).toBe('ferry.yaml:9:5 [targets.nightly.master] (targets.nightly.master)');
    expect(e.suggestions[0]).toMatch(/spark:\/\/HOST:7077/);
  });
});

describe('a standalone master: client mode in the container', () => {
  it('puts app, files, resources, env and args on the spark-submit line', () => {
    const s = submit(
      {
        master: 'spark://m:7077',
        app: 'job.py',
        pyFiles: ['local:///app/lib.zip', 's3a://bucket/dep.py'],
        packages: ['org.apache.spark:spark-avro_2.13:4.0.0'],
        driver: { memory: '1Gi' },
        conf: { 'spark.sql.shuffle.partitions': 8, 'spark.eventLog.enabled': false },
      },
      { env: { LEVEL: 'debug' }, args: ['--date', '2024-01-01'], resources: { cpu: 2, memory: '3Gi' } },
    );
    expect(s.mode).toBe('standalone');
    expect(s.argv.slice(0, 6)).toEqual(['--master', 'spark://m:7077', '--deploy-mode', 'client', '--name', 'ferry-nightly']);
    expect(s.argv).toEqual(expect.arrayContaining(['--py-files', 'local:///app/lib.zip,s3a://bucket/dep.py', '--packages', 'org.apache.spark:spark-avro_2.13:4.0.0']));
    expect(s.argv).toEqual(expect.arrayContaining(['--driver-memory', '1024m', '--executor-memory', '3072m', '--executor-cores', '2']));
    expect(confs(s.argv)).toMatchObject({ 'spark.sql.shuffle.partitions': '8', 'spark.eventLog.enabled': 'false' });
    // job.env's values are on no command line: the executors get them from a properties file.
    expect(s.argv.join(' ')).not.toContain('debug');
    expect(s.argv).toEqual(expect.arrayContaining(['--properties-file', '/ferry/conf/spark-submit.properties']));
    expect(s.jobEnv).toEqual({ keys: ['LEVEL'], container: true, properties: [{ name: 'spark.executorEnv.LEVEL', env: 'LEVEL' }] });
    // The app from the project is mounted read-only; application args come last.
    expect(s.argv.slice(-3)).toEqual(['/ferry/files/0/job.py', '--date', '2024-01-01']);
    expect(s.container.volumes).toEqual([{ source: path.join(dir, 'job.py'), named: false, target: '/ferry/files/0/job.py', readOnly: true, options: [] }]);
    // Not even in the container's planned environment: deploy adds the values (private-files.ts).
    expect(s.container.env).toEqual([]);
    expect(JSON.stringify(s)).not.toContain('debug');
    expect(s.container.network).toBe('host');
    expect(s.container.command).toEqual(['spark-submit']);
    expect(s.container.name).toBe(`ferry-spark-nightly-${RUN_ID}`);
    expect(s.kubernetes).toBeUndefined();
    // What ferry looks for in the image before spark-submit runs.
    expect(s.imageFiles).toEqual([{ key: 'pyFiles.0', path: '/app/lib.zip' }]);
  });

  it('local[*] runs everything in the container: no executor flags, job.env only in its environment', () => {
    const s = submit({ master: 'local[*]', app: 'local:///app/job.py', executor: { memory: '2g' } }, { resources: { memory: '1Gi' }, env: { K: 'v' } });
    expect(s.argv).not.toContain('--executor-memory');
    expect(s.argv).not.toContain('--properties-file');
    expect(s.jobEnv).toEqual({ keys: ['K'], container: true, properties: [] });
    expect(s.notes.join('\n')).toMatch(/executor settings do not apply to a local master/);
  });
});

describe('a Kubernetes master: cluster mode, the driver pod pinned to the pushed digest', () => {
  it('sets the image, namespace, pod name, service account, executors, env, templates and the kubeconfig mount', () => {
    const s = submit(
      {
        master: 'k8s://https://10.0.0.1:6443',
        app: 'local:///app/job.py',
        executor: { instances: 3, memory: '2g', cores: 2 },
        driver: { memory: '1g', cores: 1 },
        kubernetes: { namespace: 'spark-jobs', serviceAccount: 'spark', kubeconfig: 'kubeconfig', driverPodTemplate: 'driver.yaml', imagePullSecrets: ['regcred'], labels: { team: 'data' } },
      },
      { env: { LEVEL: 'info' }, args: ['x'] },
    );
    expect(s.deployMode).toBe('cluster');
    expect(s.argv.slice(0, 4)).toEqual(['--master', 'k8s://https://10.0.0.1:6443', '--deploy-mode', 'cluster']);
    expect(s.argv).toEqual(expect.arrayContaining(['--driver-memory', '1024m', '--driver-cores', '1', '--executor-memory', '2048m', '--executor-cores', '2']));
    const pod = driverPodName('nightly', RUN_ID);
    expect(pod).toBe('ferry-nightly-20261129-0123456789ab-driver');
    expect(confs(s.argv)).toMatchObject({
      'spark.kubernetes.container.image': IMAGE,
      'spark.kubernetes.namespace': 'spark-jobs',
      'spark.kubernetes.driver.pod.name': pod,
      'spark.kubernetes.submission.waitAppCompletion': 'false',
      'spark.kubernetes.authenticate.driver.serviceAccountName': 'spark',
      'spark.kubernetes.container.image.pullSecrets': 'regcred',
      'spark.executor.instances': '3',
      'spark.kubernetes.driver.label.team': 'data',
      'spark.kubernetes.executor.label.team': 'data',
      'spark.kubernetes.driver.podTemplateFile': '/ferry/pod-templates/driver.yaml',
    });
    expect(s.argv.slice(-2)).toEqual(['local:///app/job.py', 'x']);
    expect(JSON.stringify(s)).not.toContain('info');
    expect(s.jobEnv.properties.map((p) => p.name)).toEqual(['spark.kubernetes.driverEnv.LEVEL', 'spark.executorEnv.LEVEL']);
    expect(s.kubernetes).toEqual({ namespace: 'spark-jobs', driverPod: pod, kubeconfig });
    expect(s.container.env).toEqual([['KUBECONFIG', '/ferry/kube/config']]);
    expect(s.container.volumes.map((v) => [v.source, v.target, v.readOnly])).toEqual([
      [path.join(dir, 'driver.yaml'), '/ferry/pod-templates/driver.yaml', true],
      [kubeconfig, '/ferry/kube/config', true],
    ]);
  });

  it('takes the kubeconfig from KUBECONFIG (the first file of a list)', () => {
    const s = sparkSubmitFor(input({ master: 'k8s://https://h:6443', app: 'local:///app/job.py' }), { runId: RUN_ID, env: { KUBECONFIG: `${kubeconfig}:/other` } });
    expect(s.kubernetes?.kubeconfig).toBe(kubeconfig);
  });

  it('refuses a project file (the driver pod cannot read it) and a missing kubeconfig', () => {
    expect(failure({ master: 'k8s://https://h:6443', app: 'job.py', kubernetes: { kubeconfig: 'kubeconfig' } }).code).toBe('SPARK_FILE_NOT_IN_IMAGE');
    const e = failure({ master: 'k8s://https://h:6443', app: 'local:///app/job.py', kubernetes: { kubeconfig: 'nope.yaml' } });
    expect(e.code).toBe('SPARK_KUBECONFIG_NOT_FOUND');
    expect(e.where).toMatch(/\(targets\.nightly\.kubernetes\.kubeconfig\)$/);
  });
});

describe('bad input: a coded error at its key, before anything runs', () => {
  const base = { master: 'spark://m:7077', app: 'local:///app/job.py' };

  it('an app file that is not there', () => {
    const e = failure({ ...base, app: 'jobs/missing.py' });
    expect([e.code, e.exitCode]).toEqual(['SPARK_FILE_NOT_FOUND', 78]);
    expect(e.where).toMatch(/\(targets\.nightly\.app\)$/);
    expect(failure({ ...base, pyFiles: ['local:///a.py', 'nope.py'] }).where).toMatch(/\(targets\.nightly\.pyFiles\.1\)$/);
  });

  it('a .jar app without mainClass (spark-submit would only fail in the pulled image)', () => {
    const e = failure({ ...base, app: 'local:///app/job.jar' });
    expect(e.code).toBe('SPARK_CONFIG_INVALID');
    expect(e.where).toMatch(/\(targets\.nightly\.mainClass\)$/);
  });

  it('files under a volume are not looked for in the image; the others are', () => {
    const s = sparkSubmitFor(input({ ...base, volumes: ['./:/data:ro'], files: ['/data/lookup.csv', 'local:///app/ref.csv'] }), { runId: RUN_ID, env: {} });
    expect(s.imageFiles.map((f) => f.path)).toEqual(['/app/job.py', '/app/ref.csv']);
  });

  it('a project file outside the project folder, directly or through a symlink', async () => {
    const outside = await mkdtemp(path.join(os.tmpdir(), 'ferry-outside-'));
    await writeFile(path.join(outside, 'secret.txt'), 'not for the cluster\n');
    await symlink(path.join(outside, 'secret.txt'), path.join(dir, 'link.txt'));
    expect(failure({ ...base, files: [path.relative(dir, path.join(outside, 'secret.txt'))] }).code).toBe('SPARK_FILE_OUTSIDE_PROJECT');
    const e = failure({ ...base, files: ['link.txt'] });
    expect([e.code, e.exitCode]).toEqual(['SPARK_FILE_OUTSIDE_PROJECT', 78]);
    expect(e.where).toMatch(/\(targets\.nightly\.files\.0\)$/);
  });

  it.each([
    ['spark.executor.instances', 'two'],
    ['spark.dynamicAllocation.enabled', 'maybe'],
    ['spark.executor.memory', 'lots'],
    ['spark.sql.shuffle.partitions', 1.5],
  ])('conf %s: %s is the wrong type', (key, value) => {
    const e = failure({ ...base, conf: { [key]: value } });
    expect(e.code).toBe('SPARK_CONF_INVALID');
    expect(e.where).toBe(`ferry.yaml:9:5 [targets.nightly.conf.${key}] (targets.nightly.conf.${key})`);
  });

  it('a conf key that is not Spark\'s', () => {
    expect(failure({ ...base, conf: { 'sql.shuffle.partitions': 4 } }).code).toBe('SPARK_CONF_INVALID');
  });

  it.each(['spark.kubernetes.container.image', 'spark.master', 'spark.submit.deployMode', 'spark.kubernetes.driver.pod.name'])('a conf that fights ferry: %s', (key) => {
    const e = failure({ ...base, conf: { [key]: 'x' } });
    expect(e.code).toBe('SPARK_CONF_CONFLICT');
    expect(e.exitCode).toBe(78);
  });

  it.each(['spark.master=local', 'spark.kubernetes.container.image=other', 'spark.app name', 'spark.x\ty', ' spark.ui.enabled'])('a conf key with = or white space (spark-submit splits --conf at the first =): %j', (key) => {
    const e = failure({ ...base, conf: { [key]: 'x' } });
    expect([e.code, e.exitCode]).toEqual(['SPARK_CONF_INVALID', 78]);
    expect(e.where).toMatch(/\(targets\.nightly\.conf\./);
  });

  it.each(['512 m', '2 g', '1.5g', '2Gi', '512mib', '-1g', '1 024m'])('a size Spark would refuse (JavaUtils.byteStringAs): %j', (value) => {
    expect(failure({ ...base, conf: { 'spark.executor.memoryOverhead': value } }).code).toBe('SPARK_CONF_INVALID');
  });

  it.each(['512', '512m', '512M', '2g', '2GB', '1t', '1pb', '100k', '100kb', '4096b', ' 2g '])('a size Spark reads: %j', (value) => {
    expect(confs(submit({ ...base, conf: { 'spark.executor.memoryOverhead': value } }).argv)['spark.executor.memoryOverhead']).toBe(value);
  });

  it('a conf that repeats a typed key only when both are set', () => {
    expect(failure({ ...base, driver: { memory: '1g' }, conf: { 'spark.driver.memory': '2g' } }).code).toBe('SPARK_CONF_CONFLICT');
    expect(confs(submit({ ...base, conf: { 'spark.driver.memory': '2g' } }).argv)['spark.driver.memory']).toBe('2g');
  });

  it('settings for another kind of master, GPUs, mainClass on Python, bad packages and memory', () => {
    expect(failure({ ...base, kubernetes: { namespace: 'x' } }).code).toBe('SPARK_CONFIG_INVALID');
    expect(failure({ ...base, master: 'k8s://https://h:6443', volumes: ['./d:/d'], kubernetes: { kubeconfig: 'kubeconfig' } }).code).toBe('SPARK_CONFIG_INVALID');
    const gpu = failure(base, { resources: { gpu: 1 } });
    expect([gpu.code, gpu.where]).toEqual(['SPARK_CONFIG_INVALID', 'ferry.yaml:9:5 [job.resources.gpu] (job.resources.gpu)']);
    expect(failure({ ...base, mainClass: 'a.B' }).code).toBe('SPARK_CONFIG_INVALID');
    expect(failure({ ...base, app: 'local:///app/job.txt' }).code).toBe('SPARK_CONFIG_INVALID');
    expect(failure({ ...base, packages: ['spark-avro'] }).code).toBe('SPARK_CONFIG_INVALID');
    expect(failure({ ...base, driver: { memory: '12' } }).code).toBe('SPARK_CONFIG_INVALID');
  });
});

describe('sizes', () => {
  it('writes memory as Spark reads it', () => {
    expect(sparkSize(512 * 1024 ** 2)).toBe('512m');
    expect(sparkSize(1536 * 1024)).toBe('1536k');
  });
});
