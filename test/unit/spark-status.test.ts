import { describe, expect, it } from 'vitest';
import { silentReporter } from '../../src/core/context.js';
import { FerryError } from '../../src/core/errors.js';
import { containerRunStatus, sparkAdapter } from '../../src/targets/spark/adapter.js';
import { podRunStatus, type PodView } from '../../src/targets/spark/kube.js';

/**
 * How a Spark run's state is read: the spark-submit container's state (local and standalone
 * masters, where that container is the driver) and the driver pod's (k8s://). The exit code is the
 * driver's in both, which `ferry deploy` exits with. (Both are exercised for real in the e2e tests;
 * these pin the cases those cannot easily produce: OOM, image pull errors, a pod being deleted.)
 */
describe('the spark-submit container', () => {
  const c = (status: string, exitCode = 0, extra: { oomKilled?: boolean; error?: string } = {}) => ({ status, running: status === 'running', exitCode, oomKilled: extra.oomKilled ?? false, ...(extra.error === undefined ? {} : { error: extra.error }) });

  it('maps the engine state to the run state, with the driver exit code', () => {
    expect(containerRunStatus(c('created'))).toEqual({ state: 'pending', phase: 'CREATED' });
    expect(containerRunStatus(c('running'))).toEqual({ state: 'running', phase: 'RUNNING' });
    expect(containerRunStatus(c('exited', 0))).toEqual({ state: 'succeeded', phase: 'EXITED 0', exitCode: 0 });
    expect(containerRunStatus(c('exited', 3))).toMatchObject({ state: 'failed', exitCode: 3, reason: 'the driver exited with 3' });
  });

  it('says why: stopped (ferry cancel), OOM-killed, or the engine error', () => {
    expect(containerRunStatus(c('exited', 143)).reason).toMatch(/stopped \(exit 143: SIGTERM\)/);
    expect(containerRunStatus(c('exited', 137, { oomKilled: true })).reason).toMatch(/OOMKilled/);
    expect(containerRunStatus(c('exited', 127, { error: 'executable file not found' })).reason).toBe('executable file not found');
  });
});

describe('the driver pod', () => {
  const pod = (status: PodView['status'], extra: Partial<PodView> = {}): PodView => ({ metadata: {}, spec: { containers: [{ name: 'spark-kubernetes-driver' }] }, status, ...extra });

  it('a pending pod says what it waits for', () => {
    const s = podRunStatus(pod({ phase: 'Pending', containerStatuses: [{ name: 'spark-kubernetes-driver', state: { waiting: { reason: 'ErrImagePull', message: 'pull access denied' } } }] }));
    expect(s).toEqual({ state: 'pending', phase: 'Pending (ErrImagePull)', reason: 'pull access denied' });
  });

  it('the driver container exit code when it ended', () => {
    const terminated = (exitCode: number, reason: string): PodView['status'] => ({
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [{ name: 'spark-kubernetes-driver', state: { terminated: { exitCode, reason } } }],
    });
    expect(podRunStatus(pod(terminated(0, 'Completed')))).toEqual({ state: 'succeeded', phase: 'Succeeded', exitCode: 0 });
    expect(podRunStatus(pod(terminated(3, 'Error')))).toEqual({ state: 'failed', phase: 'Failed', exitCode: 3, reason: 'Error' });
    expect(podRunStatus(pod(terminated(137, 'OOMKilled')))).toMatchObject({ state: 'failed', exitCode: 137, reason: 'OOMKilled' });
  });

  it('a pod being deleted (ferry cancel) is cancelled; a template-named driver container is still found', () => {
    expect(podRunStatus(pod({ phase: 'Running' }, { metadata: { deletionTimestamp: new Date() } }))).toEqual({ state: 'cancelled', phase: 'Terminating' });
    // A pod-template sidecar keeps the pod Running after the driver ended: the driver decides.
    expect(podRunStatus(pod({ phase: 'Running', containerStatuses: [{ name: 'spark-kubernetes-driver', state: { terminated: { exitCode: 3, reason: 'Error' } } }] }))).toMatchObject({ state: 'failed', exitCode: 3 });
    const named: PodView = {
      metadata: {},
      spec: { containers: [{ name: 'main' }, { name: 'sidecar' }] },
      status: {
        phase: 'Failed',
        containerStatuses: [
          { name: 'sidecar', state: { terminated: { exitCode: 0 } } },
          { name: 'main', state: { terminated: { exitCode: 4, reason: 'Error' } } },
        ],
      },
    };
    expect(podRunStatus(named)).toMatchObject({ state: 'failed', exitCode: 4 });
  });
});

describe('the engine a run is on', () => {
  it('a run on a TLS Docker Engine API is not looked for on another engine: SPARK_ENGINE_CHANGED', async () => {
    const h = { id: '20261129-0123456789ab', target: 't', type: 'spark', image: 'r@sha256:x', createdAt: '', ref: { driverContainer: 'ferry-spark-t-x', engine: 'docker', engineAddress: 'https://10.9.8.7:2376', mode: 'standalone' } };
    const e = await sparkAdapter.status(h, { reporter: silentReporter, env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, cwd: '/' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(FerryError);
    expect([(e as FerryError).code, (e as FerryError).exitCode]).toEqual(['SPARK_ENGINE_CHANGED', 78]);
    expect((e as FerryError).suggestions[0]).toContain('https://10.9.8.7:2376');
  });
});
