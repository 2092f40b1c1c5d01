/**
 * What the Kubernetes e2e files share: the CLI's environment, isolated in a work folder, and
 * readers of the fake API server's request log.
 */
import path from 'node:path';
import type { FakeKube, RecordedRequest } from './fake-kube/index.js';

/** ferry's state, cache and credentials kept under `work`; the cluster is `kubeconfig`. */
export function kubeCliEnv(work: string, state: string, kubeconfig: string): Record<string, string | undefined> {
  return {
    FERRY_CACHE_DIR: path.join(work, 'cache'),
    FERRY_STATE_DIR: state,
    DOCKER_CONFIG: path.join(work, 'docker-config'),
    REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
    XDG_CONFIG_HOME: path.join(work, 'xdg'),
    KUBECONFIG: kubeconfig,
    HOME: work,
  };
}

/** The requests the fake received since `from` (an index into its log). */
export const requestsSince = (kube: FakeKube, from: number): RecordedRequest[] => kube.requests.slice(from);
/** ...that were not reads. */
export const writesSince = (kube: FakeKube, from: number): RecordedRequest[] => requestsSince(kube, from).filter((r) => r.method !== 'GET');
/** ...that were watches. */
export const watchesSince = (kube: FakeKube, from: number): RecordedRequest[] => requestsSince(kube, from).filter((r) => r.query['watch'] === 'true');
/** ...that created a `plural` (jobs, sparkapplications). */
export const createsSince = (kube: FakeKube, from: number, plural: string): RecordedRequest[] => requestsSince(kube, from).filter((r) => r.method === 'POST' && r.path.endsWith(`/${plural}`));

/** The body of the last `plural` created since `from`. */
export function lastCreated(kube: FakeKube, from: number, plural: string): Record<string, unknown> {
  const p = createsSince(kube, from, plural).at(-1);
  if (p === undefined) throw new Error(`no ${plural} was created`);
  return p.body as Record<string, unknown>;
}
