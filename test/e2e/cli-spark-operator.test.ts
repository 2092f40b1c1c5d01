import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, ferry, ferryThenInterrupt, type CliResult } from '../helpers/cli.js';
import { startFakeKube, type FakeKube, type RecordedRequest } from '../helpers/fake-kube/index.js';
import { createsSince, kubeCliEnv, lastCreated, requestsSince, watchesSince, writesSince } from '../helpers/kube-cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * The spark target with submit: operator, end to end: the built CLI, a real registry, and the fake
 * Kubernetes API with a pretend Spark operator (it serves SparkApplications, creates the driver pod
 * and moves the application's state with that pod, as kubeflow/spark-operator does). Nothing runs
 * on this machine: PATH holds no container engine while ferry deploys.
 */
let kube: FakeKube;
let bare: FakeKube;
/** An operator before 2.2 without its webhook: the driver pod is not owned by the application. */
let unowned: FakeKube;
/** An operator before 2.1: its CRD has no pod templates, which the API server drops. */
let old: FakeKube;
let registry: TestRegistry;
let work: string;

interface Handle {
  id: string;
  ref: Record<string, string>;
}
interface DeployJson {
  state: string;
  exitCode: number;
  reason?: string;
  handle: Handle;
  onInterrupt?: string;
  cancel?: { action: string };
}
interface ErrorJson {
  code: string;
  where?: string;
  message: string;
}
type Obj = Record<string, unknown>;

/** No podman, buildah or docker on PATH: the operator path must not need one (the build is native). */
const NO_ENGINE_PATH = path.dirname(process.execPath);

const env = (state: string, kubeconfig = kube.kubeconfigPath): Record<string, string | undefined> => ({ ...kubeCliEnv(work, state, kubeconfig), PATH: NO_ENGINE_PATH });

let seq = 0;
/** A project whose image is a FROM scratch COPY of a PySpark job (built natively). */
async function project(target: string, job = 'job:\n  env: {STAGE: e2e}\n  args: [--day, "2026-11-29"]\n'): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  seq += 1;
  await writeFile(path.join(dir, 'job.py'), `print("job ${String(seq)}")\n`);
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY job.py /app/job.py\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${registry.host}/team/spark-op\nregistries:\n  "${registry.host}": {insecure: true}\n${job}targets:\n  nightly:\n    type: spark\n    submit: operator\n    sparkVersion: "3.5.3"\n    app: local:///app/job.py\n${target}`,
  );
  return dir;
}

const run = (args: string[], cwd: string, state = path.join(work, 'state'), extra: Record<string, string | undefined> = {}): Promise<CliResult> =>
  ferry(args, { cwd, env: { ...env(state), ...extra }, timeoutMs: 120_000 });

const since = (from: number): RecordedRequest[] => requestsSince(kube, from);
const writes = (from: number): RecordedRequest[] => writesSince(kube, from);
const appPosts = (from: number): RecordedRequest[] => createsSince(kube, from, 'sparkapplications');
const watches = (from: number): RecordedRequest[] => watchesSince(kube, from);
const postedApp = (from: number): Obj => lastCreated(kube, from, 'sparkapplications');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-spark-op-'));
  registry = await startRegistry({ mode: 'open' });
  // One Kubernetes second is 200 ms here, so deadlines end quickly.
  kube = await startFakeKube({ namespaces: ['default', 'spark-jobs'], secondMs: 200, sparkOperator: true });
  bare = await startFakeKube({ namespaces: ['default', 'spark-jobs'] });
  unowned = await startFakeKube({ sparkOperator: { ownsDriverPod: false } });
  old = await startFakeKube({ sparkOperator: { templates: false } });
}, 120_000);

afterAll(async () => {
  await kube.stop();
  await bare.stop();
  await unowned.stop();
  await old.stop();
  await registry.stop();
});

describe('ferry deploy on spark with submit: operator (fake API server and operator, real client)', () => {
  it('creates one SparkApplication pinned by digest, watches it once, streams the driver log and exits 0', async () => {
    const dir = await project(
      [
        '    conf: {spark.sql.shuffle.partitions: 8, spark.eventLog.enabled: true}',
        '    pyFiles: [local:///app/lib.zip]',
        '    packages: [org.apache.spark:spark-avro_2.12:3.5.3]',
        '    driver: {memory: 1g, cores: 1}',
        '    executor: {memory: 2Gi, cores: 2, instances: 3}',
        '    kubernetes:',
        '      namespace: spark-jobs',
        '      serviceAccount: spark',
        '      imagePullSecrets: [regcred]',
        '      labels: {team: data}',
        '',
      ].join('\n'),
    );
    kube.controls.script(/^ferry-nightly-[0-9a-f]{10}-driver$/, { logs: ['driver starting', 'result 42'], exitCode: 0 });
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir);
    const out = envelope<DeployJson>(r).result;
    expect(r.code, r.stderr).toBe(0);
    expect(out?.state).toBe('succeeded');
    expect(r.stderr).toContain('driver starting\nresult 42\n');
    expect(r.stderr).not.toContain('DeprecationWarning');
    const app = postedApp(from);
    const meta = app['metadata'] as { name: string; namespace: string; labels: Record<string, string> };
    expect(app['apiVersion']).toBe('sparkoperator.k8s.io/v1beta2');
    expect(meta.name).toMatch(/^ferry-nightly-[0-9a-f]{10}$/);
    expect(meta.namespace).toBe('spark-jobs');
    expect(meta.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'ferry', 'ferry/target': 'nightly', 'ferry/deploy-id': out?.handle.id, team: 'data' });
    const spec = app['spec'] as Obj;
    expect(spec).toMatchObject({
      type: 'Python',
      sparkVersion: '3.5.3',
      mode: 'cluster',
      imagePullPolicy: 'IfNotPresent',
      imagePullSecrets: ['regcred'],
      mainApplicationFile: 'local:///app/job.py',
      arguments: ['--day', '2026-11-29'],
      sparkConf: { 'spark.sql.shuffle.partitions': '8', 'spark.eventLog.enabled': 'true' },
      deps: { pyFiles: ['local:///app/lib.zip'], packages: ['org.apache.spark:spark-avro_2.12:3.5.3'] },
      restartPolicy: { type: 'Never' },
    });
    expect(spec['image']).toMatch(new RegExp(`^${registry.host}/team/spark-op@sha256:[0-9a-f]{64}$`));
    expect(spec['driver']).toMatchObject({ cores: 1, memory: '1024m', serviceAccount: 'spark', env: [{ name: 'STAGE', value: 'e2e' }], labels: { team: 'data', 'ferry/deploy-id': out?.handle.id } });
    expect(spec['executor']).toMatchObject({ instances: 3, cores: 2, memory: '2048m', env: [{ name: 'STAGE', value: 'e2e' }] });
    // The driver pod the operator made ran the same pinned image, in the namespace, with the account.
    const pod = kube.controls.get('pods', 'spark-jobs', `${meta.name}-driver`) as { spec?: { serviceAccountName?: string; containers?: { image?: string }[] } } | undefined;
    expect(pod?.spec?.containers?.[0]?.image).toBe(spec['image']);
    expect(pod?.spec?.serviceAccountName).toBe('spark');
    // One watch of the application; the server validated what it received.
    expect(watches(from).filter((w) => w.path.endsWith('/sparkapplications'))).toHaveLength(1);
    const checked = kube.validations.filter((v) => v.resource === 'sparkapplications' && v.name === meta.name);
    expect(checked.length).toBeGreaterThan(0);
    expect(checked.every((v) => v.ok)).toBe(true);
    expect(out?.handle.ref).toMatchObject({ mode: 'operator', appName: meta.name, namespace: 'spark-jobs' });
  });

  it("exits with the driver's exit code, with the operator's message as the reason", async () => {
    const dir = await project('    name: failing\n');
    kube.controls.script(/^failing-[0-9a-f]{10}-driver$/, { logs: ['Traceback: boom'], exitCode: 3 });
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code, r.stderr).toBe(3);
    const out = envelope<DeployJson>(r).result;
    expect(out?.state).toBe('failed');
    expect(out?.reason).toContain('ExitCode: 3');
    expect(r.stderr).toContain('Traceback: boom');
  });

  it('a submission the operator fails (SUBMISSION_FAILED) fails the deploy with its message', async () => {
    const dir = await project('    name: unsubmittable\n');
    kube.controls.failSparkSubmission(/^unsubmittable-/, 'failed to run spark-submit: Exception in thread "main" java.io.FileNotFoundException: local:///app/job.py');
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code, r.stderr).toBe(1);
    const out = envelope<DeployJson>(r).result;
    expect(out?.state).toBe('failed');
    expect(out?.reason).toContain('FileNotFoundException');
  });

  it('job.timeout bounds the driver pod on the cluster (activeDeadlineSeconds): it fails with DeadlineExceeded', async () => {
    const dir = await project('    name: slow\n', 'job:\n  timeout: 2s\n');
    kube.controls.script(/^slow-[0-9a-f]{10}-driver$/, { logs: ['working'], hang: true });
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir);
    const spec = postedApp(from)['spec'] as { driver: { template?: { spec?: { activeDeadlineSeconds?: number } } } };
    expect(spec.driver.template?.spec?.activeDeadlineSeconds).toBe(2);
    expect(r.code, r.stderr).toBe(137);
    // The operator only says the container's exit; ferry names the timeout from the pod's reason.
    expect(envelope<DeployJson>(r).result?.reason).toContain('job.timeout exceeded');
    expect(envelope<DeployJson>(r).result?.reason).toContain('ExitCode: 137');
  });

  it('resumes after 410 Gone, and a log stream cut while the driver runs is read on: every line once', async () => {
    const dir = await project('    name: cut\n');
    const lines = Array.from({ length: 20 }, (_, i) => `line ${String(i)}`);
    kube.controls.script(/^cut-[0-9a-f]{10}-driver$/, { logs: lines, lineDelayMs: 100, pendingMs: 100 });
    kube.controls.expireNextWatch();
    const from = kube.requests.length;
    const pending = run(['deploy', 'nightly'], dir);
    const running = (): boolean => kube.controls.list('pods', 'default').some((p) => /^cut-.*-driver$/.test(p.metadata.name) && (p.status as { phase?: string } | undefined)?.phase === 'Running');
    for (let i = 0; i < 100 && !running(); i++) await new Promise((res) => setTimeout(res, 50));
    await new Promise((res) => setTimeout(res, 900));
    kube.controls.closeStreams();
    const r = await pending;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(lines.map((l) => `${l}\n`).join(''));
    // The 410 answer, the watch after the re-read, and the one after the cut.
    expect(watches(from).filter((w) => w.path.endsWith('/sparkapplications')).length).toBeGreaterThanOrEqual(3);
  });

  it('--async, then status, logs and cancel; a retried deploy follows the running application; cancel deletes it and its driver pod', async () => {
    const state = path.join(work, 'state-async');
    const dir = await project('    name: longrun\n');
    kube.controls.script(/^longrun-[0-9a-f]{10}-driver$/, { logs: ['started'], hang: true });
    const a = await run(['deploy', 'nightly', '--async', '--json'], dir, state);
    expect(a.code, a.stderr).toBe(0);
    const h = envelope<DeployJson>(a).result?.handle;
    const name = h?.ref['appName'] ?? '';
    expect(name).toMatch(/^longrun-/);
    const from = kube.requests.length;
    const b = await run(['deploy', 'nightly', '--async', '--json'], dir, state);
    expect(b.code, b.stderr).toBe(0);
    expect(envelope<DeployJson>(b).result?.handle.ref['appName']).toBe(name);
    expect(appPosts(from)).toHaveLength(1);
    expect(b.stderr).toContain('has not ended: following it');
    expect(kube.controls.list('sparkapplications', 'default').filter((o) => o.metadata.name === name)).toHaveLength(1);

    let st: CliResult | undefined;
    for (let i = 0; i < 50; i++) {
      st = await run(['status', '--last', '--json'], dir, state);
      if ((envelope<{ state: string }>(st).result?.state ?? '') === 'running') break;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(envelope<{ state: string; phase?: string }>(st ?? { code: 1, stdout: '', stderr: '' }).result).toMatchObject({ state: 'running', phase: 'RUNNING' });
    const l = await run(['logs', '--last'], dir, state);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain('started');
    const fromCancel = kube.requests.length;
    const c = await run(['cancel', '--last', '--json'], dir, state);
    expect(c.code, c.stderr).toBe(0);
    const del = since(fromCancel).find((q) => q.method === 'DELETE');
    expect(del?.path).toBe(`/apis/sparkoperator.k8s.io/v1beta2/namespaces/default/sparkapplications/${name}`);
    expect({ ...(del?.query ?? {}), ...((del?.body ?? {}) as Record<string, string>) }).toMatchObject({ propagationPolicy: 'Background' });
    // Only this run's object: the uid precondition makes the API server refuse a newer one of the name.
    expect((del?.body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid).toBe(h?.ref['uid']);
    expect(h?.ref['uid']).toMatch(/^[0-9a-f-]{36}$/);
    for (let i = 0; i < 20 && kube.controls.get('pods', 'default', `${name}-driver`) !== undefined; i++) await new Promise((res) => setTimeout(res, 50));
    expect(kube.controls.get('pods', 'default', `${name}-driver`)).toBeUndefined();
    const after = await run(['status', '--last', '--json'], dir, state);
    expect(envelope<{ state: string }>(after).result?.state).toBe('cancelled');
  });

  it('reports ImagePullBackOff while the application waits; Ctrl-C with --cancel-on-interrupt deletes it (exit 130)', async () => {
    const state = path.join(work, 'state-pull');
    const dir = await project('    name: nopull\n');
    kube.controls.failImagePull(/^nopull-[0-9a-f]{10}-driver$/);
    const r = await ferryThenInterrupt(['deploy', 'nightly', '--json', '--cancel-on-interrupt'], /ImagePullBackOff/, { cwd: dir, env: env(state), timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(130);
    const out = JSON.parse(r.stdout) as { result: DeployJson };
    expect(out.result).toMatchObject({ onInterrupt: 'cancelled', cancel: { action: 'delete SparkApplication' } });
    expect(kube.controls.get('sparkapplications', 'default', out.result.handle.ref['appName'] ?? '')).toBeUndefined();
  });

  it('runs the same spec again by replacing the ended application of the same name', async () => {
    const dir = await project('    name: again\n');
    kube.controls.script(/^again-[0-9a-f]{10}-driver$/, { logs: ['once'] });
    const a = await run(['deploy', 'nightly', '--json'], dir);
    expect(a.code, a.stderr).toBe(0);
    const from = kube.requests.length;
    const b = await run(['deploy', 'nightly', '--json'], dir);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain('ran before with the same spec');
    // The create answers 409; the ended application and its driver pod are deleted (the operator
    // refuses to submit while a pod of the driver's name is there), then it is created again.
    expect(writes(from).map((w) => `${w.method} ${w.path.split('/').at(-2) ?? ''}`)).toEqual(['POST default', 'DELETE sparkapplications', 'DELETE pods', 'POST default']);
    expect(envelope<DeployJson>(b).result?.state).toBe('succeeded');
    // The first run's handle now names another run's application: status and cancel refuse it.
    const first = envelope<DeployJson>(a).result?.handle.id ?? '';
    const st = await run(['status', '--id', first, '--json'], dir);
    expect(st.code).toBe(65);
    expect((envelope<never>(st).error as ErrorJson | undefined)?.code).toBe('K8S_RUN_REPLACED');
    expect((envelope<never>(st).error as ErrorJson | undefined)?.message).toContain(envelope<DeployJson>(b).result?.handle.id ?? '?');
    const fromCancel = kube.requests.length;
    const c = await run(['cancel', '--id', first, '--json'], dir);
    expect(c.code).toBe(65);
    expect(writes(fromCancel)).toEqual([]);
  });

  it('where the operator does not own the driver pod, cancel and a re-run delete that pod too', async () => {
    const state = path.join(work, 'state-unowned');
    const dir = await project('    name: unowned\n');
    unowned.controls.script(/^unowned-[0-9a-f]{10}-driver$/, { logs: ['working'], hang: true });
    const a = await run(['deploy', 'nightly', '--async', '--json'], dir, state, { KUBECONFIG: unowned.kubeconfigPath });
    expect(a.code, a.stderr).toBe(0);
    const name = envelope<DeployJson>(a).result?.handle.ref['appName'] ?? '';
    for (let i = 0; i < 100 && unowned.controls.get('pods', 'default', `${name}-driver`) === undefined; i++) await new Promise((res) => setTimeout(res, 50));
    expect(unowned.controls.get('pods', 'default', `${name}-driver`)?.metadata.ownerReferences).toBeUndefined();
    const c = await run(['cancel', '--last', '--json'], dir, state, { KUBECONFIG: unowned.kubeconfigPath });
    expect(c.code, c.stderr).toBe(0);
    expect(unowned.controls.get('sparkapplications', 'default', name)).toBeUndefined();
    expect(unowned.controls.get('pods', 'default', `${name}-driver`)).toBeUndefined();

    const again = await project('    name: unowned-again\n');
    unowned.controls.script(/^unowned-again-[0-9a-f]{10}-driver$/, { logs: ['once'] });
    const first = await run(['deploy', 'nightly', '--json'], again, state, { KUBECONFIG: unowned.kubeconfigPath });
    expect(first.code, first.stderr).toBe(0);
    // The ended run's driver pod stays (nothing owns it); running the same spec again removes it first.
    const second = await run(['deploy', 'nightly', '--json'], again, state, { KUBECONFIG: unowned.kubeconfigPath });
    expect(second.code, second.stderr).toBe(0);
    expect(envelope<DeployJson>(second).result?.state).toBe('succeeded');
  });

  it('an operator older than 2.1 (no pod templates in its CRD) is refused before anything is created when job.timeout needs one', async () => {
    const dir = await project('    name: too-old\n', 'job:\n  timeout: 10m\n');
    const from = old.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir, undefined, { KUBECONFIG: old.kubeconfigPath });
    expect(r.code, r.stderr).toBe(69);
    expect((envelope<never>(r).error as ErrorJson | undefined)?.code).toBe('SPARK_OPERATOR_TOO_OLD');
    // Only the server-side dry run was sent: nothing stored.
    expect(old.requests.slice(from).filter((q) => q.method !== 'GET').map((q) => q.query['dryRun'])).toEqual(['All']);
    expect(old.controls.list('sparkapplications', 'default')).toEqual([]);
  });

  it('plan prints the SparkApplication as YAML and writes nothing; deploy --render DIR writes it with no cluster call', async () => {
    const dir = await project('    kubernetes: {namespace: spark-jobs}\n');
    const from = kube.requests.length;
    const p = await run(['plan', 'nightly'], dir);
    expect(p.code, p.stderr).toBe(0);
    const planned = parseAllDocuments(p.stdout).map((d) => d.toJS() as Obj).filter((d) => d['kind'] === 'SparkApplication');
    expect(planned).toHaveLength(1);
    expect(writes(from)).toEqual([]);
    const fromRender = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--render', 'out', '--json'], dir, undefined, { KUBECONFIG: path.join(work, 'nope') });
    expect(r.code, r.stderr).toBe(0);
    expect(since(fromRender)).toEqual([]);
    const docs = parseAllDocuments(await readFile(path.join(dir, 'out', 'nightly.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
    expect(docs).toHaveLength(1);
    expect(docs[0]?.['kind']).toBe('SparkApplication');
    expect((docs[0]?.['metadata'] as Obj)['namespace']).toBe('spark-jobs');
    expect((docs[0]?.['metadata'] as Obj)['name']).toBe((planned[0]?.['metadata'] as Obj)['name']);
  });
});

describe('spark submit: operator bad input: clear errors before anything is created', () => {
  const cases: [string, string, string, string, number][] = [
    ['no sparkVersion', 'SPARK_VERSION_UNSET', 'CONFIG_INVALID', 'sparkVersion', 78],
    ['a spark:// master', '    master: spark://127.0.0.1:7077\n', 'SPARK_MASTER_INVALID', 'master', 78],
    ['a k8s:// master that is not the kubeconfig\'s cluster', '    master: k8s://https://other.example:6443\n', 'SPARK_MASTER_INVALID', 'master', 78],
    ['an app file on this machine', 'APP_ON_HOST', 'SPARK_FILE_NOT_IN_IMAGE', 'app', 78],
    ['a namespace that does not exist', '    kubernetes: {namespace: missing}\n', 'K8S_NAMESPACE_NOT_FOUND', 'kubernetes.namespace', 78],
    ['an unknown context', '    kubernetes: {context: prod}\n', 'K8S_CONTEXT_UNKNOWN', 'kubernetes.context', 78],
    ['a label value over 63 characters', `    kubernetes: {labels: {team: ${'x'.repeat(64)}}}\n`, 'CONFIG_INVALID', 'labels', 78],
    ['a conf key ferry sets', '    conf: {spark.kubernetes.container.image: other:latest}\n', 'SPARK_CONF_CONFLICT', 'conf', 78],
    ['a driver pod template that is not YAML', 'BAD_TEMPLATE', 'SPARK_CONFIG_INVALID', 'driverPodTemplate', 78],
  ];
  for (const [what, target, code, key, exit] of cases) {
    it(what, async () => {
      let dir = await project(target.includes(':') ? target : '');
      const yamlPath = path.join(dir, 'ferry.yaml');
      if (target === 'SPARK_VERSION_UNSET') await writeFile(yamlPath, (await readFile(yamlPath, 'utf8')).replace('    sparkVersion: "3.5.3"\n', ''));
      if (target === 'APP_ON_HOST') await writeFile(yamlPath, (await readFile(yamlPath, 'utf8')).replace('app: local:///app/job.py', 'app: job.py'));
      if (target === 'BAD_TEMPLATE') {
        dir = await project('    kubernetes: {driverPodTemplate: driver.yaml}\n');
        await writeFile(path.join(dir, 'driver.yaml'), 'spec: [unclosed\n');
      }
      const from = kube.requests.length;
      const r = await run(['deploy', 'nightly', '--json'], dir);
      const err = envelope<never>(r).error as ErrorJson | undefined;
      expect(r.code, r.stderr).toBe(exit);
      expect(err?.code).toBe(code);
      expect(err?.where ?? '').toContain(key);
      expect(writes(from)).toEqual([]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('a cluster without the Spark operator: SPARK_OPERATOR_NOT_INSTALLED, nothing created', async () => {
    const dir = await project('');
    const from = bare.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir, undefined, { KUBECONFIG: bare.kubeconfigPath });
    const err = envelope<never>(r).error as ErrorJson | undefined;
    expect(r.code, r.stderr).toBe(69);
    expect(err?.code).toBe('SPARK_OPERATOR_NOT_INSTALLED');
    expect(bare.requests.slice(from).filter((q) => q.method !== 'GET')).toEqual([]);
  });

  it('a SparkApplication of that name not made by ferry is refused (SPARK_APP_CONFLICT) and left alone', async () => {
    const dir = await project('    name: taken\n');
    // Learn the name ferry would use, then put a foreign application there.
    const p = await run(['plan', 'nightly', '--json'], dir);
    expect(p.code, p.stderr).toBe(0);
    const planned = envelope<{ manifests?: Obj[] }>(p).result?.manifests?.[0];
    const name = String((planned?.['metadata'] as Obj | undefined)?.['name']);
    expect(name).toMatch(/^taken-[0-9a-f]{10}$/);
    const { KubeConfig, CustomObjectsApi } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    const foreign = { ...planned, metadata: { name, namespace: 'default', labels: { owner: 'someone-else' } } };
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ group: 'sparkoperator.k8s.io', version: 'v1beta2', namespace: 'default', plural: 'sparkapplications', body: foreign });
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code, r.stderr).toBe(78);
    expect((envelope<never>(r).error as ErrorJson | undefined)?.code).toBe('SPARK_APP_CONFLICT');
    expect(writes(from).filter((w) => w.method === 'DELETE')).toEqual([]);
    expect((kube.controls.get('sparkapplications', 'default', name)?.metadata.labels ?? {})['owner']).toBe('someone-else');
  });

  it('--render on a spark-submit target is refused before the build', async () => {
    const dir = await project('');
    const yamlPath = path.join(dir, 'ferry.yaml');
    await writeFile(yamlPath, (await readFile(yamlPath, 'utf8')).replace('    submit: operator\n', '    master: local[*]\n'));
    const r = await run(['plan', 'nightly', '--render', '-', '--json'], dir);
    expect(r.code).toBe(64);
    expect((envelope<never>(r).error as ErrorJson | undefined)?.code).toBe('USAGE_FLAG_NOT_FOR_TARGET');
  });
});
