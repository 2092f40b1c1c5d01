// A fake Kubernetes API server for tests, on loopback: the real REST paths for namespaces, Jobs,
// Pods (with logs), Secrets, ConfigMaps, Services, NetworkPolicies and (with the Spark operator) SparkApplications; list/watch with resourceVersions and 410 Expired; a simple
// Job controller and kubelet driven by per-pod scripts; schema validation of every manifest received;
// and fault injection. It exists because no real API server runs on this machine; the real
// @kubernetes/client-node drives it through the kubeconfig it writes, as it would a cluster.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { JobController } from './job-controller.js';
import { FakeSparkOperator, type FakeSparkOperatorOptions } from './spark-operator.js';
import type { PodMatcher, PodScript, ScriptSource, Timing } from './kubelet.js';
import { Kubelet } from './kubelet.js';
import type { Fault, RecordedRequest, ServerState } from './server.js';
import { createHandler } from './server.js';
import type { KubeObject, Resource } from './store.js';
import { Store } from './store.js';
import { makeCerts } from './tls.js';
import type { ValidationRecord } from './validate.js';

export type { PodContext, PodMatcher, PodScript, ScriptSource } from './kubelet.js';
export type { Fault, RecordedRequest } from './server.js';
export type { KubeObject, Resource, StoredJob, StoredPod } from './store.js';
export type { ValidationRecord } from './validate.js';

export interface FakeKubeOptions {
  /**
   * Serve HTTPS with a throwaway CA written into the kubeconfig (certificate-authority-data), as real
   * clusters do; default true. With false, plain HTTP, and the kubeconfig says
   * `insecure-skip-tls-verify: true`, because @kubernetes/client-node 2 refuses an http:// server
   * without it ("HTTP protocol is not allowed when skipTLSVerify is not set or false").
   */
  tls?: boolean;
  /** Namespaces that exist; default ['default', 'kube-system']. */
  namespaces?: string[];
  /** The kubeconfig context's namespace; default 'default'. */
  namespace?: string;
  /** How many write events watches can resume from before a resourceVersion answers 410; default 1000. */
  watchWindow?: number;
  /** Real milliseconds per Kubernetes second (activeDeadlineSeconds, timeoutSeconds); default 1000. */
  secondMs?: number;
  /** Default pod timing (ms); scripts override per pod. Defaults: pending 10, line 5, run 10. */
  timing?: Partial<Timing>;
  /** The bearer token the kubeconfig carries and the server requires. */
  token?: string;
  /** What /version reports; default 1.31. */
  version?: { major: string; minor: string };
  /**
   * Install the Kubernetes Spark operator: its SparkApplication resource is served and run. With
   * `templates: false`, its CRD predates spec.driver/executor.template (operator before 2.1), and
   * the API server drops those fields.
   */
  sparkOperator?: boolean | (FakeSparkOperatorOptions & { templates?: boolean });
}

export interface FakeKubeControls {
  /** How pods matching (a Job name or pod name, a RegExp on the pod name, or a predicate) run. */
  script(matcher: PodMatcher, source: ScriptSource): void;
  /** Sugar: matching pods stay Pending with ErrImagePull, then ImagePullBackOff. */
  failImagePull(matcher: PodMatcher): void;
  /** Sugar: matching pods stay Pending with PodScheduled False, reason Unschedulable. */
  unschedulable(matcher: PodMatcher, message?: string): void;
  /** The next watch answers 410 Expired: as an ERROR event (default, as real servers do) or an HTTP 410. */
  expireNextWatch(opts?: { http?: boolean }): void;
  /** Forget all watch history, as an etcd compaction does: every older resourceVersion answers 410. */
  compact(): void;
  /** End every open watch and log stream, as an API server restart or a load balancer timeout would. */
  closeStreams(): void;
  /** The next `times` (default 1) requests matching answer this status with a Status body. */
  inject(fault: Fault): void;
  /** The current resourceVersion (the global counter). */
  resourceVersion(): number;
  /** Read the server's state directly (copies). */
  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined;
  list(resource: Resource, namespace?: string): KubeObject[];
  /** The API refuses the pods of matching Jobs (admission): the Job controller records FailedCreate Events. */
  refusePods(matcher: string | RegExp, message: string): void;
  /** The Spark operator answers SUBMISSION_FAILED with this message for matching applications. */
  failSparkSubmission(matcher: string | RegExp, message: string): void;
}

export interface FakeKube {
  url: string;
  kubeconfigPath: string;
  /** The CA certificate (PEM), unless started with tls: false. */
  ca: string | undefined;
  token: string;
  namespace: string;
  /** Every request received, in order, with its parsed JSON body. */
  requests: RecordedRequest[];
  /** Every manifest validated against the official schema (creates, replaces, patches), with the outcome. */
  validations: ValidationRecord[];
  controls: FakeKubeControls;
  stop(): Promise<void>;
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-fake-kube-'));
  const store = new Store(opts.watchWindow ?? 1000);
  const secondMs = opts.secondMs ?? 1000;
  const timing: Timing = { pendingMs: 10, lineDelayMs: 5, delayMs: 10, ...opts.timing };
  const kubelet = new Kubelet(store, timing, secondMs);
  const controller = new JobController(store, secondMs);
  const opOpts = opts.sparkOperator === true ? {} : opts.sparkOperator === false ? undefined : opts.sparkOperator;
  const sparkOperator = opOpts === undefined ? undefined : new FakeSparkOperator(store, opOpts);
  const namespace = opts.namespace ?? 'default';
  for (const ns of new Set([...(opts.namespaces ?? ['default', 'kube-system']), namespace])) {
    store.create('namespaces', { metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
  }
  const token = opts.token ?? randomBytes(16).toString('hex');
  const openWatches = new Set<ServerResponse>();
  let address = '';
  const state: ServerState = {
    store,
    kubelet,
    token,
    requests: [],
    validations: [],
    faults: [],
    expireNextWatch: undefined,
    openWatches,
    secondMs,
    version: opts.version ?? { major: '1', minor: '31' },
    sparkOperator: sparkOperator !== undefined,
    sparkTemplates: opOpts?.templates !== false,
    serverAddress: () => address,
  };
  const handler = createHandler(state);
  const tls = (opts.tls ?? true) ? makeCerts(dir) : undefined;
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${tls ? 'https' : 'http'}://${address}`;

  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'fake',
          cluster: {
            server: url,
            ...(tls ? { 'certificate-authority-data': Buffer.from(tls.ca).toString('base64') } : { 'insecure-skip-tls-verify': true }),
          },
        },
      ],
      users: [{ name: 'fake-user', user: { token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake-user', namespace } }],
      'current-context': 'fake',
      preferences: {},
    }),
    { mode: 0o600 },
  );

  const closeStreams = (): void => {
    for (const r of openWatches) r.end();
    openWatches.clear();
  };
  const controls: FakeKubeControls = {
    script: (matcher, source) => {
      kubelet.addScript(matcher, source);
    },
    failImagePull: (matcher) => {
      kubelet.addScript(matcher, { imagePull: 'ErrImagePull' } satisfies PodScript);
    },
    unschedulable: (matcher, message = '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.') => {
      kubelet.addScript(matcher, { unschedulable: message });
    },
    expireNextWatch: (o) => {
      state.expireNextWatch = { http: o?.http ?? false };
    },
    compact: () => {
      store.compact();
    },
    closeStreams,
    inject: (fault) => {
      state.faults.push({ ...fault });
    },
    resourceVersion: () => store.resourceVersion,
    get: (resource, ns, name) => store.get(resource, ns, name),
    list: (resource, ns) => store.list(resource, ns),
    refusePods: (matcher, message) => {
      controller.refusePods(matcher, message);
    },
    failSparkSubmission: (matcher, message) => {
      if (sparkOperator === undefined) throw new Error('fake-kube: started without sparkOperator: true');
      sparkOperator.failSubmission(matcher, message);
    },
  };

  return {
    url,
    kubeconfigPath,
    ca: tls?.ca,
    token,
    namespace,
    requests: state.requests,
    validations: state.validations,
    controls,
    stop: async () => {
      controller.stop();
      sparkOperator?.stop();
      kubelet.stop();
      closeStreams();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
