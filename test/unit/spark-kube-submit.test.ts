/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
   @kubernetes/client-node's models are data-only classes and its API serializes plain objects, so
   the pod here is an object literal (as in test/e2e/fake-kube.test.ts). */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectingReporter } from '../../src/core/context.js';
import { FerryError } from '../../src/core/errors.js';
import type { ContainerRun, LocalEngine, RunIo } from '../../src/targets/local/engine.js';
import { podLogs, submitToKubernetes } from '../../src/targets/spark/kube.js';
import { sparkTargetSchema } from '../../src/targets/spark/schema.js';
import { sparkSubmitFor, type SparkSubmit } from '../../src/targets/spark/submit.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube/index.js';

/**
 * Ctrl-C while spark-submit (k8s://, cluster mode) runs. The API server is the fake one (a real
 * HTTPS server speaking the Kubernetes API); the engine is a stand-in for the spark-submit
 * container, since what matters is the moment of the signal, which a real spark-submit cannot be
 * made to hit reliably: it creates the driver pod through the API (as spark-submit does) and
 * reports that it was interrupted (as the engines do after stopping the container on Ctrl-C).
 * (Real spark-submit runs against the same server in test/e2e/cli-spark-k8s.test.ts.)
 */
let kube: FakeKube;

beforeAll(async () => {
  kube = await startFakeKube({ namespaces: ['default', 'spark-jobs'] });
});
afterAll(async () => {
  await kube.stop();
});

function submitFor(runId: string): SparkSubmit {
  return sparkSubmitFor(
    {
      target: 'cluster',
      config: sparkTargetSchema.parse({ type: 'spark', master: `k8s://${kube.url}`, app: 'local:///app/job.py', kubernetes: { namespace: 'spark-jobs' } }),
      image: { ref: `r.example/job@sha256:${'a'.repeat(64)}`, digest: '', configDigest: 'sha256:b', platform: 'linux/amd64' },
      job: { env: {} },
      file: path.join(path.dirname(kube.kubeconfigPath), 'ferry.yaml'),
    },
    { runId, env: { KUBECONFIG: kube.kubeconfigPath } },
  );
}

/** An engine whose spark-submit run is interrupted: after creating the driver pod, or before. */
function interruptedEngine(createPod: string | undefined): LocalEngine {
  const run = async (_spec: ContainerRun, io: RunIo) => {
    if (createPod !== undefined) {
      const kc = new KubeConfig();
      kc.loadFromFile(kube.kubeconfigPath);
      await kc.makeApiClient(CoreV1Api).createNamespacedPod({
        namespace: 'spark-jobs',
        body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: createPod, namespace: 'spark-jobs' }, spec: { containers: [{ name: 'spark-kubernetes-driver', image: 'r.example/job@sha256:' + 'a'.repeat(64) }] } },
      });
    }
    io.stderr.write('spark-submit output\n');
    return { exitCode: 143, oomKilled: false, timedOut: false, interrupted: 'SIGINT' };
  };
  const none = (): never => {
    throw new Error('not used');
  };
  return { kind: 'podman', address: 'podman test', hasImage: none, load: (_a: Readable) => none(), run, detached: { pull: none, start: none, inspect: none, logs: none, filesIn: none, stop: none, remove: none }, close: () => Promise.resolve() };
}

const spec = (s: SparkSubmit): ContainerRun => ({ image: 'sha256:b', name: s.container.name, command: s.container.command, args: s.argv, env: s.container.env, volumes: s.container.volumes, ports: [], labels: {} });

describe('Ctrl-C during spark-submit on a k8s:// master', () => {
  it('after the driver pod was created: deploy goes on to return the run (detach or cancel is then the deploy service\'s), with a warning', async () => {
    const s = submitFor('20261129-aaaaaaaaaaaa');
    const pod = s.kubernetes?.driverPod ?? '';
    kube.controls.script(new RegExp(`^${pod}$`), { logs: ['working'], hang: true });
    const reporter = collectingReporter();
    const abort = new AbortController();
    abort.abort('SIGINT');
    await expect(submitToKubernetes(interruptedEngine(pod), spec(s), s, { reporter, env: {}, cwd: '/', signal: abort.signal })).resolves.toBeUndefined();
    expect(reporter.warnings.join('\n')).toContain(`after it had created driver pod spark-jobs/${pod}`);
    expect(kube.controls.get('pods', 'spark-jobs', pod)).toBeDefined();
  });

  it('before the driver pod existed: INTERRUPTED (130), nothing started', async () => {
    const s = submitFor('20261129-bbbbbbbbbbbb');
    const abort = new AbortController();
    abort.abort('SIGINT');
    const e = await submitToKubernetes(interruptedEngine(undefined), spec(s), s, { reporter: collectingReporter(), env: {}, cwd: '/', signal: abort.signal }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(FerryError);
    expect([(e as FerryError).code, (e as FerryError).exitCode]).toEqual(['INTERRUPTED', 130]);
  });
});

describe('the driver pod\'s log, followed', () => {
  it('a stream cut while the driver runs is read on from where it stopped: every line once, in order', async () => {
    const s = submitFor('20261129-cccccccccccc');
    const pod = s.kubernetes?.driverPod ?? '';
    const lines = Array.from({ length: 20 }, (_, i) => `line ${String(i)}`);
    kube.controls.script(new RegExp(`^${pod}$`), { logs: lines, lineDelayMs: 100, pendingMs: 100 });
    await interruptedEngine(pod).run(spec(s), { stdout: process.stdout, stderr: new (await import('node:stream')).PassThrough() });
    const h = { id: 'x', target: 'cluster', type: 'spark', image: '', createdAt: '', ref: { driverPod: pod, namespace: 'spark-jobs', kubeconfig: kube.kubeconfigPath, mode: 'k8s' } };
    const got: string[] = [];
    const reading = podLogs(h, { follow: true }, { reporter: collectingReporter(), env: {}, cwd: '/' }, (l) => got.push(l.text));
    // Cut the open stream twice while the driver is half-way through its lines.
    for (const n of [5, 12]) {
      for (let i = 0; i < 200 && got.length < n; i++) await new Promise((r) => setTimeout(r, 25));
      kube.controls.closeStreams();
    }
    await reading;
    expect(got).toEqual(lines);
  });
});
