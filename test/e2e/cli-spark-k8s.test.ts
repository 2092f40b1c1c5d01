import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/infra/process.js';
import { envelope, ferry, ferryThenInterrupt, type CliResult } from '../helpers/cli.js';
import { startFakeKube, type FakeKube, type KubeObject } from '../helpers/fake-kube/index.js';
import { sparkTestImage, type SparkBaseImage } from '../helpers/spark-image.js';

/**
 * `type: spark` with a k8s:// master. No Kubernetes runs here, so the API server is the fake one
 * (test/helpers/fake-kube), but the client is real: pyspark 4.3.0's own spark-submit, in cluster
 * mode, inside the pushed image (podman, host network), creates the driver pod, its config map and
 * its headless service through the fabric8 client, with the kubeconfig ferry mounted. The checks
 * are on what spark-submit sent (the pod spec: image pinned by digest, namespace, service account,
 * labels, env, arguments; the Spark conf it carries), and on ferry following that pod: the fake
 * kubelet "runs" the driver by script (log lines, exit code), status/logs/cancel read and delete it.
 * Bad input fails before any build or container, with its code and ferry.yaml position.
 */
/** A job.env value that stands for a secret: it must reach the pods and never be shown. */
const TOKEN = 'tok-5ecret=value x';
let base: SparkBaseImage | undefined;
let kube: FakeKube | undefined;
let work = '';
let project = '';
let state = '';
let penv: Record<string, string> = {};

interface Handle {
  id: string;
  type: string;
  ref: Record<string, string>;
}

const env = (): Record<string, string | undefined> => ({
  ...penv,
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  FERRY_STATE_DIR: state,
  DOCKER_CONFIG: path.join(work, 'docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  DOCKER_HOST: undefined,
  DOCKER_CONTEXT: undefined,
  KUBECONFIG: kube?.kubeconfigPath,
});
const run = (args: string[], cwd = project): Promise<CliResult> => ferry(args, { cwd, env: env(), timeoutMs: 240_000 });
const explain = (r: CliResult): string =>
  `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-6000)}\n--- API requests\n${(kube?.requests ?? []).slice(-10).map((q) => `${q.method} ${q.path} ${q.contentType ?? ''}`).join('\n')}`;

function header(): string {
  if (base === undefined) throw new Error('not set up');
  return ['apiVersion: ferry/v1', 'image:', `  name: ${base.registry.host}/team/spark-k8s`, 'registries:', `  "${base.registry.host}": {insecure: true}`, 'job:', `  env: {LEVEL: info, API_TOKEN: "${TOKEN}"}`, '  args: [--day, "2024-01-01"]', 'targets:'].join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-spark-k8s-'));
  state = path.join(work, 'state');
  const prepared = await sparkTestImage(work);
  base = prepared.base;
  penv = prepared.penv;
  kube = await startFakeKube({ namespaces: ['default', 'spark-jobs'] });
  project = path.join(work, 'project');
  await mkdir(path.join(project, 'jobs'), { recursive: true });
  await cp(path.resolve(import.meta.dirname, '..', '..', 'examples', 'spark-wordcount', 'jobs', 'wordcount.py'), path.join(project, 'jobs', 'wordcount.py'));
  await writeFile(path.join(project, 'Dockerfile'), `FROM ${base.ref}\nCOPY jobs/ /app/\n`);
  await writeFile(path.join(project, 'driver-template.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    from-template: "yes"\nspec:\n  nodeSelector:\n    pool: spark\n');
  await writeFile(
    path.join(project, 'ferry.yaml'),
    [
      header(),
      '  cluster:',
      '    type: spark',
      `    master: k8s://${kube.url}`,
      '    app: local:///app/wordcount.py',
      '    engine: podman',
      '    executor: {instances: 2, memory: 1Gi, cores: 1}',
      '    driver: {memory: 1g}',
      '    conf: {spark.ui.enabled: false, spark.driver.extraJavaOptions: "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}',
      '    kubernetes:',
      '      namespace: spark-jobs',
      '      serviceAccount: spark',
      '      driverPodTemplate: driver-template.yaml',
      '      labels: {team: data}',
      '',
    ].join('\n'),
  );
}, 900_000);

afterAll(async () => {
  if (base !== undefined) {
    const ids = await runProcess('podman', ['images', '--filter', `reference=${base.registry.host}/team/spark-k8s`, '--format', '{{.ID}}'], { env: penv });
    const list = [...new Set(ids.stdout.split('\n').filter((l) => l !== ''))];
    if (list.length > 0) await runProcess('podman', ['rmi', '--force', ...list], { env: penv, timeoutMs: 120_000 });
  }
  await kube?.stop();
  await base?.registry.stop();
  if (work !== '') await rm(work, { recursive: true, force: true });
}, 300_000);

function driverPod(name: string): KubeObject & { spec?: { serviceAccountName?: string; nodeSelector?: Record<string, string>; containers?: { name: string; image?: string; args?: string[]; env?: { name: string; value?: string }[] }[] } } {
  const pod = kube?.controls.get('pods', 'spark-jobs', name);
  if (pod === undefined) throw new Error(`no pod ${name}; pods: ${JSON.stringify(kube?.controls.list('pods').map((p) => p.metadata.name))}`);
  return pod;
}

describe('ferry deploy to a k8s:// master: real spark-submit in cluster mode against the fake API server', () => {
  it('creates the driver pod of the pinned image with ferry\'s settings, follows it, and exits with its code', async () => {
    kube?.controls.script(/-driver$/, { logs: ['RESULT a=3 b=2 c=1'], exitCode: 0, delayMs: 500 });
    const r = await run(['deploy', 'cluster', '--json']);
    expect(r.code, explain(r)).toBe(0);
    const out = envelope<{ state: string; exitCode: number; image: string; handle: Handle }>(r).result;
    expect(out?.state).toBe('succeeded');
    // Under --json the driver's log goes to stderr.
    expect(r.stderr).toContain('RESULT a=3 b=2 c=1');
    const ref = out?.handle.ref ?? {};
    expect(ref['driverPod']).toMatch(/^ferry-cluster-\d{8}-[0-9a-f]{12}-driver$/);
    expect(ref['namespace']).toBe('spark-jobs');

    const pod = driverPod(ref['driverPod'] ?? '');
    const c = pod.spec?.containers?.[0];
    // The pin: the pod runs exactly the image ferry pushed.
    expect(c?.image).toBe(out?.image);
    expect(c?.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(pod.spec?.serviceAccountName).toBe('spark');
    expect(pod.spec?.nodeSelector).toEqual({ pool: 'spark' });
    expect(pod.metadata.labels).toMatchObject({ team: 'data', 'from-template': 'yes', 'spark-role': 'driver' });
    // job.env reaches the driver through the properties file ferry mounts (not spark-submit's argv).
    expect(c?.env).toEqual(expect.arrayContaining([{ name: 'LEVEL', value: 'info' }, { name: 'API_TOKEN', value: TOKEN }]));
    expect(r.stderr).not.toContain(TOKEN);
    expect(c?.args).toEqual(expect.arrayContaining(['driver', 'local:///app/wordcount.py', '--day', '2024-01-01']));
    // The Spark conf spark-submit hands the driver (a config map it created) carries the executors' settings.
    const maps = kube?.controls.list('configmaps', 'spark-jobs') ?? [];
    const props = maps.map((m) => JSON.stringify((m as { data?: unknown }).data)).join('\n');
    expect(props).toMatch(/spark\.executor\.instances=2/);
    expect(props).toMatch(/spark\.executor\.memory=1024m/);
    expect(props).toMatch(/spark\.executorEnv\.LEVEL=info/);
    // ...and a headless service for the executors to reach the driver.
    expect((kube?.controls.list('services', 'spark-jobs') ?? []).length).toBeGreaterThan(0);
    // Everything it sent is valid against the official schema.
    expect(kube?.validations.filter((v) => !v.ok)).toEqual([]);
  });

  it('a driver that exits 3 makes ferry exit 3', async () => {
    kube?.controls.script(/-driver$/, { logs: ['CONNECTED'], exitCode: 3 });
    const r = await run(['deploy', 'cluster']);
    expect(r.code, explain(r)).toBe(3);
    expect(r.stdout).toContain('CONNECTED');
  });

  it('--async, then status, logs and cancel (delete the driver pod) from the saved handle', async () => {
    kube?.controls.script(/-driver$/, { logs: ['STARTED'], hang: true });
    const d = await run(['deploy', 'cluster', '--async', '--json']);
    expect(d.code, explain(d)).toBe(0);
    const h = envelope<{ handle: Handle }>(d).result?.handle;
    let st: { state: string } | undefined;
    for (let i = 0; i < 30 && st?.state !== 'running'; i++) {
      st = envelope<{ state: string }>(await run(['status', '--last', '--json'])).result;
      if (st?.state !== 'running') await new Promise((r) => setTimeout(r, 500));
    }
    expect(st?.state).toBe('running');
    const logs = await run(['logs', '--id', h?.ref['driverPod'] ?? '', '--json']);
    expect(envelope<{ lines: { text: string }[] }>(logs).result?.lines.map((l) => l.text)).toContain('STARTED');
    const c = await run(['cancel', '--last', '--json']);
    expect(c.code, explain(c)).toBe(0);
    expect(envelope<{ action: string; before: string }>(c).result).toMatchObject({ action: 'delete driver pod', before: 'running' });
    expect(kube?.requests.some((q) => q.method === 'DELETE' && q.path.endsWith(`/namespaces/spark-jobs/pods/${h?.ref['driverPod'] ?? ''}`))).toBe(true);
    // The pod is gone: the run reads as cancelled, not as an error.
    const after = await run(['status', '--last', '--json']);
    expect(after.code, explain(after)).toBe(0);
    expect(envelope<{ state: string }>(after).result?.state).toBe('cancelled');
  });

  it('a driver log stream cut while the driver runs is read on from where it stopped: every line once, in order', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `line ${String(i)}`);
    kube?.controls.script(/-driver$/, { logs: lines, lineDelayMs: 150, pendingMs: 100 });
    const before = new Set((kube?.controls.list('pods', 'spark-jobs') ?? []).map((p) => p.metadata.name));
    const pending = run(['deploy', 'cluster']);
    // Cut every open stream once the new driver pod runs and has printed some of its lines.
    const running = (): boolean => (kube?.controls.list('pods', 'spark-jobs') ?? []).some((p) => !before.has(p.metadata.name) && p.metadata.name.endsWith('-driver') && (p.status as { phase?: string } | undefined)?.phase === 'Running');
    for (let i = 0; i < 2400 && !running(); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1200));
    kube?.controls.closeStreams();
    const r = await pending;
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toBe(lines.map((l) => `${l}\n`).join(''));
  });

  it.each([
    ['detaches from', [] as string[], 'detached'],
    ['with --cancel-on-interrupt, deletes', ['--cancel-on-interrupt'], 'cancelled'],
  ])('Ctrl-C as spark-submit has created the driver pod %s the run, with its handle saved', async (_what, flags, outcome) => {
    kube?.controls.script(/-driver$/, { logs: ['RUNNING'], hang: true });
    // spark-submit says it deployed the application just before it exits: the pod exists then.
    const r = await ferryThenInterrupt(['deploy', 'cluster', '--json', ...flags], /into Kubernetes/, { cwd: project, env: env(), timeoutMs: 240_000 });
    expect(r.code, explain(r)).toBe(130);
    const out = envelope<{ interrupted: string; onInterrupt: string; handle: Handle }>(r).result;
    expect(out?.onInterrupt).toBe(outcome);
    const pod = out?.handle.ref['driverPod'] ?? '';
    expect(pod).toMatch(/-driver$/);
    // The handle is saved: status finds the run.
    const st = envelope<{ state: string }>(await run(['status', '--id', pod, '--json'])).result;
    if (outcome === 'detached') {
      expect(kube?.controls.get('pods', 'spark-jobs', pod)).toBeDefined();
      expect(['pending', 'running']).toContain(st?.state);
      await run(['cancel', '--id', pod]);
    } else {
      expect(kube?.requests.some((q) => q.method === 'DELETE' && q.path.endsWith(`/namespaces/spark-jobs/pods/${pod}`))).toBe(true);
      expect(st?.state).toBe('cancelled');
    }
  });

  it('ferry plan prints the spark-submit line and changes nothing', async () => {
    const before = kube?.controls.list('pods').length;
    const r = await run(['plan', 'cluster', '--json']);
    expect(r.code, explain(r)).toBe(0);
    const line = JSON.stringify(envelope(r).result);
    expect(line).toMatch(/spark\.kubernetes\.container\.image=[^"]+@sha256:[0-9a-f]{64}/);
    expect(line).toContain('--deploy-mode","cluster"');
    // job.env: keys only, values redacted, in the JSON and on stderr.
    expect(line).not.toContain(TOKEN);
    expect(r.stderr).not.toContain(TOKEN);
    expect(line).toContain('spark.kubernetes.driverEnv.API_TOKEN=<redacted>');
    expect(line).toContain('"--properties-file","/ferry/conf/spark-submit.properties"');
    expect(kube?.controls.list('pods').length).toBe(before);
  });
});

describe('bad Spark settings: a coded error at its ferry.yaml line, before any build or container', () => {
  async function deployWith(target: string): Promise<CliResult> {
    const dir = await mkdtemp(path.join(work, 'bad-'));
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
    await writeFile(path.join(dir, 'ferry.yaml'), `${header()}\n  bad:\n    type: spark\n${target}`);
    return run(['deploy', 'bad', '--json'], dir);
  }

  it.each([
    ['a master ferry cannot drive', '    master: yarn\n    app: local:///app/job.py\n', 'SPARK_MASTER_INVALID', 'master'],
    ['an app file that is not there', '    master: spark://127.0.0.1:7077\n    app: jobs/missing.py\n', 'SPARK_FILE_NOT_FOUND', 'app'],
    ['a conf of the wrong type', '    master: local[*]\n    app: local:///app/job.py\n    conf:\n      spark.executor.instances: two\n', 'SPARK_CONF_INVALID', 'conf.spark.executor.instances'],
    ['a conf that fights ferry', '    master: k8s://https://127.0.0.1:6443\n    app: local:///app/job.py\n    conf:\n      spark.kubernetes.container.image: other/image:latest\n', 'SPARK_CONF_CONFLICT', 'conf.spark.kubernetes.container.image'],
  ])('%s', async (_what, target, code, key) => {
    const r = await deployWith(target);
    expect(r.code, explain(r)).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toBe(code);
    expect(e?.where).toMatch(new RegExp(`ferry\\.yaml:\\d+:\\d+ \\(targets\\.bad\\.${key.replaceAll('.', '\\.')}\\)$`));
    expect(e?.suggestions.length).toBeGreaterThan(0);
    // Nothing was built or pushed, and no stack trace.
    expect(r.stderr).not.toMatch(/\[stage 0\]|pushing/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a conf value of the wrong YAML type is refused by the schema, at its line', async () => {
    const r = await deployWith('    master: local[*]\n    app: local:///app/job.py\n    conf:\n      spark.executor.instances: [1, 2]\n');
    expect(r.code).toBe(78);
    expect(envelope(r).error?.code).toBe('CONFIG_INVALID');
    expect(envelope(r).error?.where).toMatch(/ferry\.yaml:\d+:\d+ \(targets\.bad\.conf\.spark\.executor\.instances\)/);
  });

  it('ferry targets lists spark with what it can do', async () => {
    const r = await run(['targets', '--json']);
    expect(r.code).toBe(0);
    const kinds = (envelope<{ kinds: { type: string; capabilities: Record<string, boolean> }[] }>(r).result?.kinds ?? []).find((k) => k.type === 'spark');
    expect(kinds?.capabilities).toMatchObject({ plan: true, deploy: true, async: true, logs: true, cancel: true, each: false });
    await readFile(path.join(project, 'ferry.yaml'), 'utf8');
  });
});
