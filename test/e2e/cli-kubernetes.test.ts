import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, ferry, ferryThenInterrupt, REPO_ROOT, type CliResult } from '../helpers/cli.js';
import { startFakeKube, type FakeKube, type RecordedRequest } from '../helpers/fake-kube/index.js';
import { createsSince, kubeCliEnv, lastCreated, requestsSince, watchesSince, writesSince } from '../helpers/kube-cli.js';
import { makeBaseImage, type BaseImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * The kubernetes-job target end to end: the built CLI, a real registry (htpasswd, so ferry has
 * credentials to put in an image pull Secret), and the fake Kubernetes API driven through the
 * kubeconfig it writes, exactly as a cluster would be. The fake validates every manifest it
 * receives against the official schema and runs pods as each test scripts them.
 */
let kube: FakeKube;
let registry: TestRegistry;
let work: string;
let base: BaseImage;

interface Handle {
  id: string;
  ref: Record<string, string>;
}
interface DeployJson {
  state: string;
  exitCode: number;
  reason?: string;
  handle: Handle;
  children?: Record<string, number>;
  failedChildren?: { index: number; value: string; exitCode?: number }[];
  async?: boolean;
}
interface ErrorJson {
  code: string;
  where?: string;
}
type Obj = Record<string, unknown>;

const env = (state: string): Record<string, string | undefined> => kubeCliEnv(work, state, kube.kubeconfigPath);

let seq = 0;
/** A project whose image is a FROM scratch COPY (built natively: no engine needed). */
async function project(target: string, job = 'job:\n  env: {STAGE: e2e}\n'): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  seq += 1;
  await writeFile(path.join(dir, 'hello.txt'), `hello ${String(seq)}\n`);
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${registry.host}/team/k8s\nregistries:\n  "${registry.host}": {insecure: true}\n${job}targets:\n  nightly:\n    type: kubernetes-job\n${target}`,
  );
  return dir;
}

const run = (args: string[], cwd: string, state = path.join(work, 'state'), extra: Record<string, string | undefined> = {}): Promise<CliResult> =>
  ferry(args, { cwd, env: { ...env(state), ...extra }, timeoutMs: 120_000 });

const since = (from: number): RecordedRequest[] => requestsSince(kube, from);
const writes = (from: number): RecordedRequest[] => writesSince(kube, from);
const jobPosts = (from: number): RecordedRequest[] => createsSince(kube, from, 'jobs');
const watches = (from: number): RecordedRequest[] => watchesSince(kube, from);
const postedJob = (from: number): Obj => lastCreated(kube, from, 'jobs');
const containerOf = (job: Obj): Obj => ((((job['spec'] as Obj)['template'] as Obj)['spec'] as Obj)['containers'] as Obj[])[0] ?? {};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-k8s-'));
  registry = await startRegistry({ mode: 'htpasswd' });
  await mkdir(path.join(work, 'docker-config'));
  const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
  await writeFile(path.join(work, 'docker-config', 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
  // One Kubernetes second is 200 ms here, so deadlines end quickly.
  kube = await startFakeKube({ namespaces: ['default', 'data'], namespace: 'data', secondMs: 200 });
  // A busybox base (with /bin/sh) for the example, pushed with the registry's own credentials.
  base = await makeBaseImage(registry, 'library/busybox', '1.36');
}, 120_000);

/** Starts `ferry deploy`, sends SIGINT once ferry reports the Job running, and returns what it printed. */
const deployThenInterrupt = (args: string[], cwd: string, state: string): Promise<CliResult> => ferryThenInterrupt(['deploy', ...args], /: Running\n/, { cwd, env: env(state), timeoutMs: 60_000 });

afterAll(async () => {
  await kube.stop();
  await registry.stop();
});

describe('ferry deploy on kubernetes-job (fake API server, real client)', () => {
  it('creates one Job pinned by digest with a pull Secret, watches it once, streams its log and exits 0', async () => {
    const dir = await project('    backoffLimit: 0\n    podSecurityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n    serviceAccountName: runner\n    nodeSelector: {pool: batch}\n    tolerations: [{key: dedicated, operator: Equal, value: batch, effect: NoSchedule}]\n    labels: {team: data}\n    ttlSecondsAfterFinished: 3600\n', 'job:\n  env: {STAGE: e2e}\n  resources: {cpu: 0.5, memory: 256Mi}\n  timeout: 10m\n');
    kube.controls.script(/^ferry-nightly-/, { logs: ['first line', 'last line'], exitCode: 0 });
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir);
    const out = envelope<DeployJson>(r).result;
    expect(r.code, r.stderr).toBe(0);
    expect(out?.state).toBe('succeeded');
    // The log goes to stderr under --json (stdout holds the envelope).
    expect(r.stderr).toContain('first line\nlast line\n');
    // Loading the schema validators prints no Node deprecation noise (punycode, DEP0040).
    expect(r.stderr).not.toContain('DeprecationWarning');
    const job = postedJob(from);
    const meta = job['metadata'] as { name: string; namespace: string; labels: Record<string, string> };
    expect(meta.name).toMatch(/^ferry-nightly-[0-9a-f]{10}$/);
    expect(meta.namespace).toBe('data');
    expect(meta.labels['app.kubernetes.io/managed-by']).toBe('ferry');
    expect(meta.labels['ferry/deploy-id']).toBe(out?.handle.id);
    expect(meta.labels['team']).toBe('data');
    const spec = job['spec'] as Obj;
    expect(spec['backoffLimit']).toBe(0);
    expect(spec['activeDeadlineSeconds']).toBe(600);
    expect(spec['ttlSecondsAfterFinished']).toBe(3600);
    const podSpec = (spec['template'] as Obj)['spec'] as Obj;
    expect(podSpec['restartPolicy']).toBe('Never');
    expect(podSpec['serviceAccountName']).toBe('runner');
    expect(podSpec['securityContext']).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(podSpec['nodeSelector']).toEqual({ pool: 'batch' });
    expect(podSpec['tolerations']).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }]);
    const pullName = `ferry-pull-${registry.host.replace(':', '-')}`;
    expect(podSpec['imagePullSecrets']).toEqual([{ name: pullName }]);
    const c = containerOf(job);
    expect(c['image']).toMatch(new RegExp(`^${registry.host}/team/k8s@sha256:[0-9a-f]{64}$`));
    expect(c['env']).toEqual([{ name: 'STAGE', value: 'e2e' }]);
    expect(c['resources']).toEqual({ requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '256Mi' } });
    expect(c['securityContext']).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    // The pull Secret holds the registry credentials from the docker config, as dockerconfigjson.
    const secret = kube.controls.get('secrets', 'data', pullName) as { type?: string; data?: Record<string, string> } | undefined;
    expect(secret?.type).toBe('kubernetes.io/dockerconfigjson');
    const dockerConfig = JSON.parse(Buffer.from(secret?.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as { auths: Record<string, { username: string; password: string }> };
    expect(dockerConfig.auths[registry.host]?.username).toBe(registry.username);
    // ...and never appears in ferry's output.
    expect(r.stdout + r.stderr).not.toContain(registry.password);
    // Waiting was one watch of the Job, not polling.
    expect(watches(from)).toHaveLength(1);
    expect(watches(from)[0]?.path).toBe('/apis/batch/v1/namespaces/data/jobs');
    expect(kube.validations.filter((v) => !v.ok)).toEqual([]);
  });

  it('exits with the container\'s exit code; OOMKilled and a retried attempt are reported; logs span every attempt', async () => {
    const dir = await project('    name: exit-three\n');
    kube.controls.script(/^exit-three-/, { logs: ['about to fail'], exitCode: 3 });
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code, r.stderr).toBe(3);
    expect(envelope<DeployJson>(r).result?.reason).toContain('BackoffLimitExceeded');
    expect(r.stderr).toContain('about to fail');

    const oom = await project('    name: oom\n');
    kube.controls.script(/^oom-/, { logs: ['allocating'], exitCode: 137, reason: 'OOMKilled' });
    const o = await run(['deploy', 'nightly', '--json'], oom);
    expect(o.code, o.stderr).toBe(137);
    expect(envelope<DeployJson>(o).result?.reason).toContain('OOMKilled');

    const retry = await project('    name: retried\n    backoffLimit: 1\n');
    // Kubernetes stamps pods to the second: the second attempt starts a second later, so the order
    // of the two pods is what their times say (ferry breaks ties by state, then finish time).
    kube.controls.script(/^retried-/, (c) => (c.attempt === 0 ? { logs: ['attempt one'], exitCode: 2 } : { logs: ['attempt two'], exitCode: 0, pendingMs: 1100 }));
    const t = await run(['deploy', 'nightly'], retry);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toBe('attempt one\nattempt two\n');
    expect(t.stderr).toMatch(/a pod failed \(Error, exit code 2\); retrying/);
  });

  it('reports ImagePullBackOff and Unschedulable while the Job is still active, then DeadlineExceeded', async () => {
    const dir = await project('    name: no-pull\n    activeDeadlineSeconds: 20\n');
    kube.controls.failImagePull(/^no-pull-/);
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/ImagePullBackOff|ErrImagePull/);
    expect(r.stderr.indexOf('ErrImagePull')).toBeLessThan(r.stderr.indexOf('DeadlineExceeded'));
    expect(envelope<DeployJson>(r).result?.reason).toContain('DeadlineExceeded');

    const u = await project('    name: no-room\n    activeDeadlineSeconds: 20\n');
    kube.controls.unschedulable(/^no-room-/);
    const s = await run(['deploy', 'nightly', '--json'], u);
    expect(s.code).not.toBe(0);
    expect(s.stderr).toContain('Unschedulable');
    expect(s.stderr).toContain('Insufficient cpu');
  });

  it('reports a pod the API refuses (the controller\'s FailedCreate Event) while the Job waits, in deploy and in status', async () => {
    const state = path.join(work, 'state-refused');
    const dir = await project('    name: refused\n    activeDeadlineSeconds: 30\n');
    const why = 'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false';
    kube.controls.refusePods(/^refused-/, why);
    const r = await run(['deploy', 'nightly', '--json'], dir, state);
    expect(r.code, r.stderr).not.toBe(0);
    // Reported long before the deadline fails the Job, with the admission's words.
    expect(r.stderr).toContain('FailedCreate');
    expect(r.stderr).toContain(why);
    expect(r.stderr.indexOf('FailedCreate')).toBeLessThan(r.stderr.indexOf('DeadlineExceeded'));
    expect(kube.controls.list('pods', 'data').filter((p) => p.metadata.name.startsWith('refused-'))).toEqual([]);

    const a = await project('    name: refused-async\n');
    kube.controls.refusePods(/^refused-async-/, 'exceeded quota: compute, requested: cpu=2, used: cpu=8, limited: cpu=8');
    const d = await run(['deploy', 'nightly', '--async', '--json'], a, state);
    expect(d.code, d.stderr).toBe(0);
    const st = await run(['status', '--last', '--json'], a, state);
    expect(envelope<{ state: string; phase?: string; reason?: string }>(st).result).toMatchObject({ state: 'pending', phase: 'FailedCreate' });
    expect(envelope<{ reason?: string }>(st).result?.reason).toContain('exceeded quota');
    expect((await run(['cancel', '--last'], a, state)).code).toBe(0);
  });

  it('resumes the watch after 410 Gone by reading the Job again', async () => {
    const dir = await project('    name: gone\n');
    kube.controls.script(/^gone-/, { logs: ['x'], pendingMs: 300, delayMs: 300 });
    kube.controls.expireNextWatch();
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(watches(from)).toHaveLength(2);
    expect(envelope<DeployJson>(r).result?.state).toBe('succeeded');
  });

  it('a log stream cut while the pod runs is read on from where it stopped: every line once, in order', async () => {
    const dir = await project('    name: cut-log\n');
    const lines = Array.from({ length: 20 }, (_, i) => `line ${String(i)}`);
    kube.controls.script(/^cut-log-/, { logs: lines, lineDelayMs: 100, pendingMs: 100 });
    const pending = run(['deploy', 'nightly'], dir);
    // Cut every open stream (the log and the watch) while the pod is half-way through its lines.
    for (let i = 0; i < 100 && !kube.controls.list('pods', 'data').some((p) => p.metadata.name.startsWith('cut-log-') && (p.status as { phase?: string } | undefined)?.phase === 'Running'); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 900));
    kube.controls.closeStreams();
    const r = await pending;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(lines.map((l) => `${l}\n`).join(''));
  });

  it('a watch that keeps failing (500) is retried with a pause, and the Job\'s end is still seen', async () => {
    const dir = await project('    name: flaky-watch\n');
    // Runs about 4 s: long enough for both failed watches (1 s and 2 s apart) before it ends.
    kube.controls.script(/^flaky-watch-/, { logs: ['ok'], pendingMs: 200, delayMs: 4000 });
    kube.controls.inject({ method: 'GET', path: /^\/apis\/batch\/v1\/namespaces\/data\/jobs$/, status: 500, times: 2 });
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    // Two failed watches and the one that worked: no tight loop.
    expect(watches(from)).toHaveLength(3);
  });

  it('--each makes one Indexed Job, watched once; a failing index is named with its value', async () => {
    const dir = await project('    name: fan\n    parallelism: 2\n');
    // Slow enough that the Job is still running when ferry first reads it (else there is nothing to watch).
    kube.controls.script(/^fan-/, (c) => ({ logs: [`index ${String(c.index)}`], exitCode: c.index === 1 ? 4 : 0, pendingMs: 300, delayMs: 300 }));
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json', '--each', 'DAY=mon,tue,wed'], dir);
    const out = envelope<DeployJson>(r).result;
    expect(r.code, r.stderr).not.toBe(0);
    expect(jobPosts(from)).toHaveLength(1);
    expect(watches(from)).toHaveLength(1);
    const spec = postedJob(from)['spec'] as Obj;
    expect(spec['completionMode']).toBe('Indexed');
    expect(spec['completions']).toBe(3);
    expect(spec['parallelism']).toBe(2);
    expect(spec['backoffLimitPerIndex']).toBe(0);
    // One failing value used up only its own retries: the Job ran every index and failed at the end.
    expect(out?.reason).toContain('FailedIndexes');
    const env = containerOf(postedJob(from))['env'] as { name: string; value?: string }[];
    expect(env).toContainEqual({ name: 'FERRY_EACH_VALUES', value: 'mon\ntue\nwed' });
    expect(out?.failedChildren).toEqual([expect.objectContaining({ index: 1, value: 'tue', exitCode: 4 })]);
    expect(out?.children?.['succeeded']).toBe(2);

    const ok = await project('    name: fan-ok\n');
    kube.controls.script(/^fan-ok-/, { logs: ['ok'], pendingMs: 300, delayMs: 300 });
    const from2 = kube.requests.length;
    const g = await run(['deploy', 'nightly', '--json', '--each', `N=${Array.from({ length: 20 }, (_, i) => String(i)).join(',')}`], ok);
    expect(g.code, g.stderr).toBe(0);
    expect(envelope<DeployJson>(g).result?.children).toEqual({ succeeded: 20 });
    expect(jobPosts(from2)).toHaveLength(1);
    expect(watches(from2)).toHaveLength(1);
    expect(g.stderr).not.toContain('ignored backoffLimitPerIndex');
  });

  it('--each on a cluster older than 1.29, which drops backoffLimitPerIndex, is warned about', async () => {
    const old = await startFakeKube({ namespaces: ['default', 'data'], namespace: 'data', version: { major: '1', minor: '28' } });
    try {
      const dir = await project('    name: fan-old\n');
      old.controls.script(/^fan-old-/, { logs: ['ok'] });
      const r = await run(['deploy', 'nightly', '--json', '--each', 'DAY=mon,tue'], dir, undefined, { KUBECONFIG: old.kubeconfigPath });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('ignored backoffLimitPerIndex (it needs Kubernetes 1.29 or newer)');
    } finally {
      await old.stop();
    }
  });

  it('--async, then status, logs and cancel by --last; cancel deletes with propagationPolicy Background', async () => {
    const state = path.join(work, 'state-async');
    const dir = await project('    name: longrun\n');
    kube.controls.script(/^longrun-/, { logs: ['started'], hang: true });
    const a = await run(['deploy', 'nightly', '--async', '--json'], dir, state);
    expect(a.code, a.stderr).toBe(0);
    const h = envelope<DeployJson>(a).result?.handle;
    expect(h?.ref['jobName']).toMatch(/^longrun-/);
    // A second deploy of the same thing while the first runs follows it: no second Job.
    const from = kube.requests.length;
    const b = await run(['deploy', 'nightly', '--async', '--json'], dir, state);
    expect(b.code, b.stderr).toBe(0);
    expect(envelope<DeployJson>(b).result?.handle.ref['jobName']).toBe(h?.ref['jobName']);
    expect(kube.controls.list('jobs', 'data').filter((j) => j.metadata.name.startsWith('longrun-'))).toHaveLength(1);
    expect(since(from).filter((q) => q.method === 'POST' && q.path.endsWith('/jobs'))).toHaveLength(1);

    let st: CliResult | undefined;
    for (let i = 0; i < 50; i++) {
      st = await run(['status', '--last', '--json'], dir, state);
      if ((envelope<{ state: string }>(st).result?.state ?? '') === 'running') break;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(envelope<{ state: string }>(st ?? { code: 1, stdout: '', stderr: '' }).result?.state).toBe('running');
    const l = await run(['logs', '--last'], dir, state);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain('started');
    const fromCancel = kube.requests.length;
    const c = await run(['cancel', '--last', '--json'], dir, state);
    expect(c.code, c.stderr).toBe(0);
    const del = since(fromCancel).find((q) => q.method === 'DELETE');
    expect(del?.path).toBe(`/apis/batch/v1/namespaces/data/jobs/${h?.ref['jobName'] ?? ''}`);
    expect({ ...(del?.query ?? {}), ...((del?.body ?? {}) as Record<string, string>) }).toMatchObject({ propagationPolicy: 'Background' });
    // Only this run's object: the uid precondition makes the API server refuse a newer one of the name.
    expect((del?.body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid).toBe(h?.ref['uid']);
    expect(h?.ref['uid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(kube.controls.list('pods', 'data').filter((p) => p.metadata.name.startsWith(h?.ref['jobName'] ?? '-'))).toEqual([]);
  });

  it('Ctrl-C detaches by default (the Job runs on) and deletes the Job with --cancel-on-interrupt; both exit 130', async () => {
    const state = path.join(work, 'state-sigint');
    const dir = await project('    name: interrupted\n');
    kube.controls.script(/^interrupted-/, { logs: ['working'], hang: true });
    const d = await deployThenInterrupt(['nightly', '--json'], dir, state);
    expect(d.code, d.stderr).toBe(130);
    const detached = JSON.parse(d.stdout) as { result: DeployJson & { onInterrupt: string } };
    expect(detached.result.onInterrupt).toBe('detached');
    const name = detached.result.handle.ref['jobName'] ?? '';
    expect(kube.controls.get('jobs', 'data', name)).toBeDefined();
    // The second deploy of the same spec follows the running Job; Ctrl-C now cancels it.
    const from = kube.requests.length;
    const c = await deployThenInterrupt(['nightly', '--json', '--cancel-on-interrupt'], dir, state);
    expect(c.code, c.stderr).toBe(130);
    expect((JSON.parse(c.stdout) as { result: { onInterrupt: string; cancel: { action: string } } }).result).toMatchObject({ onInterrupt: 'cancelled', cancel: { action: 'delete Job' } });
    expect(since(from).filter((q) => q.method === 'DELETE' && q.path.endsWith(`/jobs/${name}`))).toHaveLength(1);
    expect(kube.controls.get('jobs', 'data', name)).toBeUndefined();
  });

  it('the hello-kubernetes example: its busybox image gets the --each wrapper over its own ENTRYPOINT and CMD', async () => {
    const dir = await mkdtemp(path.join(work, 'example-'));
    await cp(path.join(REPO_ROOT, 'examples', 'hello-busybox'), path.join(dir, 'hello-busybox'), { recursive: true });
    await cp(path.join(REPO_ROOT, 'examples', 'hello-kubernetes'), path.join(dir, 'hello-kubernetes'), { recursive: true });
    const cfg = path.join(dir, 'hello-kubernetes', 'ferry.yaml');
    await writeFile(cfg, (await readFile(cfg, 'utf8')).replaceAll('127.0.0.1:5000', registry.host));
    kube.controls.script((c) => c.pod.metadata.labels?.['app'] === 'hello-ferry', (c) => ({ logs: [`hello from index ${String(c.index)}`] }));
    const from = kube.requests.length;
    const r = await run(['deploy', 'cluster', '--json', '--build-arg', `BASE=${base.ref}`, '--each', 'EXIT_CODE=0,0'], path.join(dir, 'hello-kubernetes'));
    expect(r.code, r.stderr).toBe(0);
    const c = containerOf(postedJob(from));
    expect(c['command'], r.stderr).toBeDefined();
    expect((c['command'] as string[]).slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect((c['command'] as string[]).slice(3)).toEqual(['ferry-each', '/bin/sh', '/app/pipeline.sh', 'data/trips.csv']);
    expect(r.stderr).not.toContain('--each: ferry found no /bin/sh');
    expect(kube.validations.filter((v) => !v.ok)).toEqual([]);
  });

  it('runs the same spec again by replacing the finished Job of the same name', async () => {
    const dir = await project('    name: again\n');
    kube.controls.script(/^again-/, { logs: ['run'] });
    const a = await run(['deploy', 'nightly', '--json'], dir);
    expect(a.code, a.stderr).toBe(0);
    const from = kube.requests.length;
    const b = await run(['deploy', 'nightly'], dir);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe('run\n');
    expect(b.stderr).toContain(`Job ${envelope<DeployJson>(a).result?.handle.ref['jobName'] ?? '?'} ran before with the same spec`);
    // The first run's handle now names the second run's Job: status and cancel refuse to act on it.
    const st = await run(['status', '--id', envelope<DeployJson>(a).result?.handle.id ?? '', '--json'], dir);
    expect(st.code).toBe(65);
    expect((envelope<never>(st).error as ErrorJson | undefined)?.code).toBe('K8S_RUN_REPLACED');
    const fromCancel = kube.requests.length;
    expect((await run(['cancel', '--id', envelope<DeployJson>(a).result?.handle.id ?? '', '--json'], dir)).code).toBe(65);
    expect(writes(fromCancel)).toEqual([]);
    expect(since(from).filter((q) => q.method === 'DELETE')).toHaveLength(1);
    expect(jobPosts(from)).toHaveLength(2);
  });
});

describe('the image pull Secret', () => {
  it('is rewritten when its content is stale (an expired ECR token), and a Secret ferry did not make is left alone', async () => {
    const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const dir = await project('    namespace: default\n    name: pull\n');
    kube.controls.script(/^pull-/, { logs: ['pulled'] });
    const pullName = `ferry-pull-${registry.host.replace(':', '-')}`;
    expect((await run(['deploy', 'nightly'], dir)).code).toBe(0);
    const fresh = kube.controls.get('secrets', 'default', pullName) as { data?: Record<string, string> } | undefined;
    // Stale credentials, as an ECR token twelve hours later.
    const stale = [{ op: 'replace', path: '/data/.dockerconfigjson', value: Buffer.from('{"auths":{}}').toString('base64') }];
    await core.patchNamespacedSecret({ name: pullName, namespace: 'default', body: stale });
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`updated image pull Secret ${pullName}`);
    expect(since(from).filter((q) => q.method === 'PUT' && q.path.endsWith(`/secrets/${pullName}`))).toHaveLength(1);
    expect((kube.controls.get('secrets', 'default', pullName) as { data?: Record<string, string> } | undefined)?.data).toEqual(fresh?.data);
    // Unchanged: no write.
    const from2 = kube.requests.length;
    expect((await run(['deploy', 'nightly'], dir)).code).toBe(0);
    expect(since(from2).filter((q) => q.path.includes('/secrets/') && q.method !== 'GET')).toEqual([]);

    const theirs: Record<string, unknown> = { metadata: { name: 'team-pull' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') } };
    await core.createNamespacedSecret({ namespace: 'default', body: theirs });
    const other = await project('    namespace: default\n    name: pull-theirs\n    imagePullSecret: team-pull\n');
    const from3 = kube.requests.length;
    const c = await run(['deploy', 'nightly', '--json'], other);
    expect(c.code).toBe(78);
    expect((envelope<never>(c).error as ErrorJson | undefined)?.code).toBe('K8S_PULL_SECRET_CONFLICT');
    expect(writes(from3)).toEqual([]);
  });
});

describe('ferry plan and --render on kubernetes-job', () => {
  it('plan prints the manifests as YAML, valid against the schema, and writes nothing', async () => {
    const dir = await project('');
    const from = kube.requests.length;
    const r = await run(['plan', 'nightly'], dir);
    expect(r.code, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    expect(docs.map((d) => d['kind'])).toEqual(['Secret', 'Job']);
    expect(JSON.stringify(docs[0])).not.toContain(registry.password);
    expect(containerOf(docs[1] ?? {})['image']).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(writes(from)).toEqual([]);
    const { Job } = await import('kubernetes-models/batch/v1/Job');
    expect(() => {
      new Job(docs[1]).validate();
    }).not.toThrow();
  });

  it('deploy --render DIR pushes and writes DIR/<target>.yaml with no cluster call; plan --render - prints it', async () => {
    const dir = await project('    namespace: data\n');
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--render', 'out', '--json'], dir, undefined, { KUBECONFIG: path.join(work, 'nope') });
    expect(r.code, r.stderr).toBe(0);
    expect(since(from)).toEqual([]);
    const text = await readFile(path.join(dir, 'out', 'nightly.yaml'), 'utf8');
    const docs = parseAllDocuments(text).map((d) => d.toJS() as Obj);
    expect(docs).toHaveLength(1);
    expect(docs[0]?.['kind']).toBe('Job');
    expect((docs[0]?.['metadata'] as Obj)['namespace']).toBe('data');
    // Rendering twice gives the same file (stable names for GitOps diffs).
    const again = await run(['plan', 'nightly', '--render', '-'], dir, undefined, { KUBECONFIG: path.join(work, 'nope') });
    expect(again.code, again.stderr).toBe(0);
    const docs2 = parseAllDocuments(again.stdout).map((d) => d.toJS() as Obj);
    expect(docs2.filter((d) => d['kind'] === 'Job')).toEqual(docs);
  });
});

describe('kubernetes-job bad input: clear errors before anything is created', () => {
  const cases: [string, string, string, string, number][] = [
    ['a name that breaks DNS-1123', '    name: Nightly_Job\n', 'CONFIG_INVALID', 'name', 78],
    ['a label value over 63 characters', `    labels: {team: ${'x'.repeat(64)}}\n`, 'CONFIG_INVALID', 'labels', 78],
    ['an unknown context', '    context: prod-cluster\n', 'K8S_CONTEXT_UNKNOWN', 'context', 78],
    ['a namespace that does not exist', '    namespace: missing\n', 'K8S_NAMESPACE_NOT_FOUND', 'namespace', 78],
    ['a Secret that does not exist', '    secretEnv: {DB_PASSWORD: {name: nosuch, key: password}}\n', 'K8S_SECRET_NOT_FOUND', 'secretEnv', 78],
    ['a Secret key that does not exist', '    secretEnv: {DB_PASSWORD: {name: db, key: pasword}}\n', 'K8S_SECRET_KEY_MISSING', 'secretEnv', 78],
    ['a ConfigMap key that does not exist', '    configMapEnv: {MODE: {name: settings, key: nomode}}\n', 'K8S_CONFIGMAP_KEY_MISSING', 'configMapEnv', 78],
  ];
  beforeAll(async () => {
    const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    // Plain objects, as ferry itself sends them (the client serializes them as it would its models).
    const secret: Record<string, unknown> = { metadata: { name: 'db' }, stringData: { password: 's3cret-value' } };
    const settings: Record<string, unknown> = { metadata: { name: 'settings' }, data: { mode: 'fast' } };
    await core.createNamespacedSecret({ namespace: 'data', body: secret });
    await core.createNamespacedConfigMap({ namespace: 'data', body: settings });
  });
  for (const [what, target, code, key, exit] of cases) {
    it(what, async () => {
      const dir = await project(target);
      const from = kube.requests.length;
      const r = await run(['deploy', 'nightly', '--json'], dir);
      const err = envelope<never>(r).error as ErrorJson | undefined;
      expect(r.code, r.stderr).toBe(exit);
      expect(err?.code).toBe(code);
      expect(err?.where ?? '').toContain(key);
      expect(writes(from)).toEqual([]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout + r.stderr).not.toContain('s3cret-value');
    });
  }

  it('a securityContext the Kubernetes schema refuses: K8S_MANIFEST_INVALID naming the field, nothing created', async () => {
    const dir = await project('    securityContext: {runAsUser: root}\n');
    const from = kube.requests.length;
    const r = await run(['deploy', 'nightly', '--json'], dir);
    const err = envelope<never>(r).error as (ErrorJson & { message: string }) | undefined;
    expect(r.code, r.stderr).toBe(78);
    expect(err?.code).toBe('K8S_MANIFEST_INVALID');
    expect(err?.message).toContain('securityContext.runAsUser');
    // At the key it came from, with its ferry.yaml line.
    expect(err?.where).toMatch(/ferry\.yaml:\d+:\d+ \(targets\.nightly\.securityContext\)$/);
    expect(writes(from)).toEqual([]);
  });

  it('--render on a local target, and an unknown kubeconfig path, are refused', async () => {
    const dir = await project('    kubeconfig: nowhere/config\n');
    const r = await run(['deploy', 'nightly', '--json'], dir);
    expect(r.code).toBe(78);
    expect((envelope<never>(r).error as ErrorJson | undefined)?.code).toBe('K8S_KUBECONFIG_NOT_FOUND');
    const local = await mkdtemp(path.join(work, 'local-'));
    await writeFile(path.join(local, 'Dockerfile'), 'FROM scratch\n');
    await writeFile(path.join(local, 'ferry.yaml'), 'apiVersion: ferry/v1\nimage: {}\n');
    const l = await run(['deploy', '--render', 'out', '--json'], local);
    expect(l.code).toBe(64);
    expect((envelope<never>(l).error as ErrorJson | undefined)?.code).toBe('USAGE_FLAG_NOT_FOR_TARGET');
  });
});
