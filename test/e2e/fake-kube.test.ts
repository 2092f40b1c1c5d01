// Proves the fake Kubernetes API speaks the protocol the real @kubernetes/client-node expects: every
// call here goes through a KubeConfig loaded from the kubeconfig file the fake writes, as against a
// cluster.
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread --
   @kubernetes/client-node's models are data-only classes and its API serializes plain objects, so the
   manifests here are object literals as ferry's adapter will send them. */
import { PassThrough } from 'node:stream';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { ApiException, ApisApi, BatchV1Api, CoreV1Api, KubeConfig, Log, PatchStrategy, VersionApi, Watch, setHeaderOptions } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeKube } from '../helpers/fake-kube/index.js';
import { startFakeKube } from '../helpers/fake-kube/index.js';

interface RawStatus {
  kind: string;
  code: number;
  reason: string;
  message: string;
  details?: { causes?: { field?: string; reason: string }[] };
}
interface RawCondition {
  type: string;
  status: string;
  reason?: string;
}
interface RawJob {
  metadata: { name: string; resourceVersion: string };
  status?: { conditions?: RawCondition[]; succeeded?: number; failed?: number; completedIndexes?: string };
}

function job(name: string, extra: Partial<NonNullable<V1Job['spec']>> = {}, image: unknown = 'registry.local/app@sha256:' + 'a'.repeat(64)): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'ferry' } },
    spec: {
      backoffLimit: 0,
      ...extra,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: image as string }] } },
    },
  };
}

async function apiError(p: Promise<unknown>): Promise<{ code: number; status: RawStatus }> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApiException);
  const ex = e as ApiException<unknown>;
  const status = (typeof ex.body === 'string' ? JSON.parse(ex.body) : ex.body) as RawStatus;
  return { code: ex.code, status };
}

const finished = (j: RawJob): RawCondition | undefined =>
  j.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');

/** Watches one object until `until` holds; resolves with it, or rejects when the stream ends first. */
async function watchUntil<T>(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  until: (type: string, obj: T) => boolean,
): Promise<{ type: string; obj: T }> {
  let ctl: AbortController | undefined;
  let resolved = false;
  return new Promise((resolve, reject) => {
    void new Watch(kc)
      .watch(
        path,
        query,
        (type: string, obj: T) => {
          if (!resolved && until(type, obj)) {
            resolved = true;
            resolve({ type, obj });
            ctl?.abort();
          }
        },
        (err: unknown) => {
          if (!resolved) reject(err instanceof Error ? err : new Error('watch ended before the condition held'));
        },
      )
      .then((c) => {
        ctl = c;
        if (resolved) c.abort();
      });
  });
}

async function readLog(kc: KubeConfig, ns: string, pod: string, follow: boolean): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const ended = new Promise((r) => out.on('end', r));
  await new Log(kc).log(ns, pod, 'main', out, { follow });
  await ended;
  return text;
}

describe('fake Kubernetes API server over plain HTTP', () => {
  it('serves discovery to the client and refuses a request without the kubeconfig token', async () => {
    const kube = await startFakeKube({ tls: false });
    try {
      expect(kube.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const kc = new KubeConfig();
      kc.loadFromFile(kube.kubeconfigPath);
      expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('default');
      const version = await kc.makeApiClient(VersionApi).getCode();
      expect(version.major).toBe('1');
      const groups = await kc.makeApiClient(ApisApi).getAPIVersions();
      expect(groups.groups.map((g) => g.name)).toContain('batch');
      const anon = await fetch(`${kube.url}/apis/batch/v1/namespaces/default/jobs`);
      expect(anon.status).toBe(401);
      expect(((await anon.json()) as RawStatus).reason).toBe('Unauthorized');
    } finally {
      await kube.stop();
    }
  });
});

describe('fake Kubernetes API server over TLS, driven by @kubernetes/client-node', () => {
  let kube: FakeKube;
  let kc: KubeConfig;
  let batch: BatchV1Api;
  let core: CoreV1Api;
  const ns = 'default';

  beforeEach(async () => {
    kube = await startFakeKube({ secondMs: 20 });
    kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    batch = kc.makeApiClient(BatchV1Api);
    core = kc.makeApiClient(CoreV1Api);
  });
  afterEach(async () => {
    await kube.stop();
  });

  it('runs a Job to Complete, watched, and follows its pod log while it runs', async () => {
    kube.controls.script('hello', { logs: ['line1', 'line2', 'line3'], lineDelayMs: 40 });
    const created = await batch.createNamespacedJob({ namespace: ns, body: job('hello') });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.spec?.selector?.matchLabels?.['batch.kubernetes.io/controller-uid']).toBe(created.metadata?.uid);

    const running = await watchUntil<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=hello' }, (_t, p) => p.status?.phase === 'Running');
    const pod = running.obj;
    expect(pod.metadata?.name).toMatch(/^hello-[a-z0-9]{5}$/);
    expect(pod.metadata?.labels?.['batch.kubernetes.io/job-name']).toBe('hello');
    expect(pod.metadata?.labels?.['controller-uid']).toBe(created.metadata?.uid);
    const log = await readLog(kc, ns, pod.metadata?.name ?? '', true);
    expect(log).toBe('line1\nline2\nline3\n');

    const done = await watchUntil<RawJob>(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { fieldSelector: 'metadata.name=hello' }, (_t, j) => finished(j) !== undefined);
    expect(finished(done.obj)?.type).toBe('Complete');
    expect(done.obj.status?.succeeded).toBe(1);

    const read = await batch.readNamespacedJob({ name: 'hello', namespace: ns });
    expect(read.status?.completionTime).toBeInstanceOf(Date);
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'batch.kubernetes.io/job-name=hello' });
    const term = pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated;
    expect(term?.exitCode).toBe(0);
    expect(term?.reason).toBe('Completed');
    expect(await readLog(kc, ns, pod.metadata?.name ?? '', false)).toBe('line1\nline2\nline3\n');

    expect(kube.validations).toContainEqual(expect.objectContaining({ resource: 'jobs', name: 'hello', ok: true }));
    expect(kube.requests.some((r) => r.method === 'POST' && r.path === `/apis/batch/v1/namespaces/${ns}/jobs`)).toBe(true);
  });

  it('retries a failing pod until backoffLimit, then fails the Job with BackoffLimitExceeded and the exit code', async () => {
    kube.controls.script('crash', ({ attempt }) => (attempt === 0 ? { exitCode: 3, logs: ['boom'] } : { exitCode: 137, reason: 'OOMKilled' }));
    await batch.createNamespacedJob({ namespace: ns, body: job('crash', { backoffLimit: 1 }) });
    const done = await watchUntil<RawJob>(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { fieldSelector: 'metadata.name=crash' }, (_t, j) => finished(j) !== undefined);
    const cond = finished(done.obj);
    expect(cond?.type).toBe('Failed');
    expect(cond?.reason).toBe('BackoffLimitExceeded');
    expect(done.obj.status?.failed).toBe(2);

    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=crash' });
    const terms = pods.items.map((p) => p.status?.containerStatuses?.[0]?.state?.terminated);
    expect(terms.map((t) => [t?.exitCode, t?.reason]).sort()).toEqual([
      [137, 'OOMKilled'],
      [3, 'Error'],
    ]);
    expect(pods.items.every((p) => p.status?.phase === 'Failed')).toBe(true);
  });

  it('answers a duplicate create with 409 AlreadyExists and an unknown name with 404, as Status objects', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: job('twice') });
    const dup = await apiError(batch.createNamespacedJob({ namespace: ns, body: job('twice') }));
    expect(dup.code).toBe(409);
    expect(dup.status).toMatchObject({ kind: 'Status', code: 409, reason: 'AlreadyExists' });
    const missing = await apiError(batch.readNamespacedJob({ name: 'nope', namespace: ns }));
    expect(missing.code).toBe(404);
    expect(missing.status.reason).toBe('NotFound');
    const noNs = await apiError(batch.createNamespacedJob({ namespace: 'elsewhere', body: job('x') }));
    expect(noNs.code).toBe(404);
  });

  it('deletes a Job with Background propagation together with its pods; Orphan leaves them', async () => {
    kube.controls.script(/./, { hang: true });
    await batch.createNamespacedJob({ namespace: ns, body: job('bg') });
    await batch.createNamespacedJob({ namespace: ns, body: job('orphan') });
    await watchUntil<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=bg' }, (_t, p) => p.status?.phase === 'Running');
    await watchUntil<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=orphan' }, (_t, p) => p.status?.phase === 'Running');

    const gone = watchUntil<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=bg' }, (t) => t === 'DELETED');
    await batch.deleteNamespacedJob({ name: 'bg', namespace: ns, propagationPolicy: 'Background' });
    await gone;
    expect((await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=bg' })).items).toHaveLength(0);

    await batch.deleteNamespacedJob({ name: 'orphan', namespace: ns, propagationPolicy: 'Orphan' });
    const left = await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=orphan' });
    expect(left.items).toHaveLength(1);
    expect(left.items[0]?.metadata?.ownerReferences).toBeUndefined();
    expect((await batch.listNamespacedJob({ namespace: ns, labelSelector: 'app.kubernetes.io/managed-by=ferry' })).items).toHaveLength(0);
  });

  it('answers a watch from a compacted resourceVersion with an ERROR 410 Expired event; re-listing resumes it', async () => {
    kube.controls.script('late', { delayMs: 100 });
    const created = await batch.createNamespacedJob({ namespace: ns, body: job('late') });
    const oldRv = created.metadata?.resourceVersion ?? '';
    kube.controls.compact();

    const first = await watchUntil<RawStatus>(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { resourceVersion: oldRv }, () => true);
    expect(first.type).toBe('ERROR');
    expect(first.obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });

    const list = await batch.listNamespacedJob({ namespace: ns, fieldSelector: 'metadata.name=late' });
    const rv = list.metadata?.resourceVersion ?? '';
    expect(Number(rv)).toBeGreaterThan(Number(oldRv));
    const done = await watchUntil<RawJob>(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { resourceVersion: rv, fieldSelector: 'metadata.name=late' }, (_t, j) => finished(j) !== undefined);
    expect(finished(done.obj)?.type).toBe('Complete');

    kube.controls.expireNextWatch();
    const forced = await watchUntil<RawStatus>(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { resourceVersion: rv }, () => true);
    expect(forced.obj.code).toBe(410);
  });

  it('ends open watches when told to, as an API server restart would, and keeps a Job status across a patch', async () => {
    kube.controls.script('steady', { hang: true });
    await batch.createNamespacedJob({ namespace: ns, body: job('steady') });
    await watchUntil<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=steady' }, (_t, p) => p.status?.phase === 'Running');
    const ended = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(`/apis/batch/v1/namespaces/${ns}/jobs`, {}, () => undefined, resolve);
    });
    // The fake registers a watch in the same turn it records the request.
    await expect.poll(() => kube.requests.some((r) => r.path.endsWith('/jobs') && r.query.watch === 'true')).toBe(true);
    kube.controls.closeStreams();
    expect(await ended).toBeNull();

    const patched = await batch.patchNamespacedJob(
      { name: 'steady', namespace: ns, body: { metadata: { labels: { stage: 'two' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.labels?.stage).toBe('two');
    expect(patched.metadata?.labels?.['job-name']).toBe('steady');
    expect(patched.status?.active).toBe(1);
  });

  it('runs an Indexed Job with completions 3 as three pods carrying their completion index', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: job('idx', { completionMode: 'Indexed', completions: 3, parallelism: 3 }) });
    const done = await watchUntil<RawJob>(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { fieldSelector: 'metadata.name=idx' }, (_t, j) => finished(j) !== undefined);
    expect(finished(done.obj)?.type).toBe('Complete');
    expect(done.obj.status?.completedIndexes).toBe('0-2');
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=idx' })).items;
    const indexes = pods.map((p) => p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index']).sort();
    expect(indexes).toEqual(['0', '1', '2']);
    for (const p of pods) {
      const i = p.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'] ?? '';
      expect(p.metadata?.name).toMatch(new RegExp(`^idx-${i}-[a-z0-9]{5}$`));
      expect(p.spec?.containers[0]?.env?.some((e) => e.name === 'JOB_COMPLETION_INDEX')).toBe(true);
    }
  });

  it('rejects a manifest that violates the official schema with 422 Invalid naming the field', async () => {
    const bad = await apiError(batch.createNamespacedJob({ namespace: ns, body: job('bad', {}, 42) }));
    expect(bad.code).toBe(422);
    expect(bad.status.reason).toBe('Invalid');
    expect(bad.status.details?.causes?.[0]?.field).toBe('spec.template.spec.containers[0].image');
    const noRestart = job('norestart');
    delete noRestart.spec?.template.spec?.restartPolicy;
    const semantic = await apiError(batch.createNamespacedJob({ namespace: ns, body: noRestart }));
    expect(semantic.status.details?.causes?.[0]?.field).toBe('spec.template.spec.restartPolicy');
    expect(kube.validations.filter((v) => !v.ok).map((v) => v.name)).toEqual(['bad', 'norestart']);
    expect(kube.controls.list('jobs', ns)).toHaveLength(0);
  });

  it('keeps a pod whose image cannot be pulled Pending, and fails the Job at activeDeadlineSeconds', async () => {
    kube.controls.failImagePull('pull');
    await batch.createNamespacedJob({ namespace: ns, body: job('pull', { activeDeadlineSeconds: 10 }) });
    const waiting = await watchUntil<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=pull' }, (_t, p) =>
      p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff');
    expect(waiting.obj.status?.phase).toBe('Pending');
    const logErr = await apiError(new Log(kc).log(ns, waiting.obj.metadata?.name ?? '', 'main', new PassThrough(), { follow: true }));
    expect(logErr.code).toBe(400);
    const done = await watchUntil<RawJob>(kc, `/apis/batch/v1/namespaces/${ns}/jobs`, { fieldSelector: 'metadata.name=pull' }, (_t, j) => finished(j) !== undefined);
    expect(finished(done.obj)?.reason).toBe('DeadlineExceeded');
  });

  it('reports an unschedulable pod with PodScheduled False, and answers injected 500 and 429 faults', async () => {
    kube.controls.unschedulable('big');
    await batch.createNamespacedJob({ namespace: ns, body: job('big') });
    const pending = await watchUntil<V1Pod>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: 'job-name=big' }, (_t, p) =>
      p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') === true);
    expect(pending.obj.status?.phase).toBe('Pending');

    kube.controls.inject({ method: 'GET', path: `/apis/batch/v1/namespaces/${ns}/jobs/big`, status: 500 });
    kube.controls.inject({ path: /\/jobs\/big$/, status: 429, retryAfterSeconds: 2 });
    expect((await apiError(batch.readNamespacedJob({ name: 'big', namespace: ns }))).code).toBe(500);
    const limited = await apiError(batch.readNamespacedJob({ name: 'big', namespace: ns }));
    expect(limited.code).toBe(429);
    expect(limited.status.reason).toBe('TooManyRequests');
    expect((await batch.readNamespacedJob({ name: 'big', namespace: ns })).metadata?.name).toBe('big');
  });

  it('creates, patches and replaces Secrets and ConfigMaps, with optimistic concurrency on replace', async () => {
    const s = await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'pull' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{"auths":{}}' } },
    });
    expect(s.data?.['.dockerconfigjson']).toBe(Buffer.from('{"auths":{}}').toString('base64'));
    const patched = await core.patchNamespacedSecret(
      { name: 'pull', namespace: ns, body: { metadata: { labels: { a: 'b' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.labels).toEqual({ a: 'b' });
    const stale = await apiError(core.replaceNamespacedSecret({ name: 'pull', namespace: ns, body: { ...s, metadata: { ...s.metadata, name: 'pull' } } }));
    expect(stale.code).toBe(409);
    expect(stale.status.reason).toBe('Conflict');

    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'env' }, data: { A: '1' } } });
    const cm = await core.readNamespacedConfigMap({ name: 'env', namespace: ns });
    const replaced = await core.replaceNamespacedConfigMap({ name: 'env', namespace: ns, body: { ...cm, data: { A: '2' } } });
    expect(replaced.data).toEqual({ A: '2' });
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(cm.metadata?.resourceVersion));
    const nsList = await core.listNamespace();
    expect(nsList.items.map((n) => n.metadata?.name)).toContain('default');
  });
});
