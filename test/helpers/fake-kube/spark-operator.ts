// A pretend Kubernetes Spark operator (kubeflow/spark-operator, v1beta2): for each SparkApplication
// it creates the driver pod (<name>-driver, owned by the application, so deleting the application
// removes it), and moves status.applicationState along with that pod as the real operator does:
// SUBMITTED → RUNNING → SUCCEEDING → COMPLETED, or FAILING → FAILED with the driver's exit code in
// errorMessage; SUBMISSION_FAILED when a test says the submission fails. The pod itself is run by
// the fake kubelet, per the tests' scripts (matched on the pod name).
import type { KubeObject, Store, StoreEvent } from './store.js';

const GV = 'sparkoperator.k8s.io/v1beta2';
const DRIVER_CONTAINER = 'spark-kubernetes-driver';
const stamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

type Obj = Record<string, unknown>;

interface AppSpec {
  image?: string;
  imagePullPolicy?: string;
  imagePullSecrets?: string[];
  mainClass?: string;
  mainApplicationFile?: string;
  arguments?: string[];
  driver?: {
    serviceAccount?: string;
    labels?: Record<string, string>;
    env?: Obj[];
    template?: { metadata?: { labels?: Record<string, string> }; spec?: Obj & { containers?: (Obj & { name?: string; env?: Obj[] })[]; serviceAccountName?: string } };
  };
}

export interface FakeSparkOperatorOptions {
  /** The namespaces it watches (spark.jobNamespaces); default all. Elsewhere applications stay new. */
  namespaces?: string[];
  /**
   * Whether the driver pod is owned by its application (the operator sets the owner reference from
   * 2.2 on; before, only its webhook did); default true. Without, deleting the application leaves it.
   */
  ownsDriverPod?: boolean;
}

export class FakeSparkOperator {
  /** Applications whose submission fails: name (or RegExp) → the error message. */
  private readonly failures: { matcher: string | RegExp; message: string }[] = [];
  private readonly listener = (ev: StoreEvent): void => {
    this.onEvent(ev);
  };

  constructor(
    private readonly store: Store,
    private readonly opts: FakeSparkOperatorOptions = {},
  ) {
    store.events.on('event', this.listener);
  }

  failSubmission(matcher: string | RegExp, message: string): void {
    this.failures.unshift({ matcher, message });
  }

  stop(): void {
    this.store.events.off('event', this.listener);
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.resource === 'sparkapplications' && ev.type === 'ADDED') {
      const { namespace, name, uid } = ev.object.metadata;
      // The operator reconciles a moment later, as the real one does from its work queue.
      setImmediate(() => {
        this.submit(namespace ?? 'default', name, uid);
      });
      return;
    }
    if (ev.resource !== 'pods' || ev.type === 'ADDED') return;
    // As the operator does: the driver pod is the application's by its labels (app name and the
    // submission's id), whether or not it owns the pod.
    const labels = ev.object.metadata.labels ?? {};
    const appName = labels['sparkoperator.k8s.io/app-name'];
    const submission = labels['sparkoperator.k8s.io/submission-id'];
    if (appName !== undefined && submission !== undefined && labels['spark-role'] === 'driver') this.sync(ev.object.metadata.namespace ?? 'default', appName, submission, ev.object, ev.type === 'DELETED');
  }

  private app(ns: string, name: string, uid: string): KubeObject | undefined {
    const app = this.store.get('sparkapplications', ns, name);
    return app?.metadata.uid === uid ? app : undefined;
  }

  private appOfSubmission(ns: string, name: string, submission: string): KubeObject | undefined {
    const app = this.store.get('sparkapplications', ns, name);
    return ((app?.status ?? {}) as { submissionID?: string }).submissionID === submission ? app : undefined;
  }

  private setStatus(ns: string, name: string, status: Obj): void {
    this.store.mutate('sparkapplications', ns, name, (o) => {
      o.status = { ...((o.status ?? {}) as Obj), ...status };
    });
  }

  private submit(ns: string, name: string, uid: string): void {
    const app = this.app(ns, name, uid);
    if (app === undefined) return;
    if (this.opts.namespaces !== undefined && !this.opts.namespaces.includes(ns)) return; // not watched: stays new
    const failure = this.failures.find((f) => (typeof f.matcher === 'string' ? f.matcher === name : f.matcher.test(name)));
    const podName = `${name}-driver`;
    // spark-submit fails when a pod of the driver's name is there (a previous run's, not yet removed).
    const message = failure?.message ?? (this.store.get('pods', ns, podName) !== undefined ? 'failed to run spark-submit: driver pod already exist' : undefined);
    if (message !== undefined) {
      // With restartPolicy Never the failed submission is final: SUBMISSION_FAILED, then FAILED.
      this.setStatus(ns, name, { applicationState: { state: 'SUBMISSION_FAILED', errorMessage: message }, submissionAttempts: 1, lastSubmissionAttemptTime: stamp() });
      this.setStatus(ns, name, { applicationState: { state: 'FAILED', errorMessage: message }, terminationTime: stamp() });
      return;
    }
    const spec = (app.spec ?? {}) as AppSpec;
    const d = spec.driver ?? {};
    const tpl = d.template ?? {};
    const [first, ...sidecars] = tpl.spec?.containers ?? [];
    const appId = `spark-${uid.replace(/-/g, '').slice(0, 32)}`;
    const submissionID = `${uid.slice(0, 8)}-${String(Date.now() % 100000)}`;
    const container: Obj = {
      ...(first ?? {}),
      // Spark keeps a template container's name for the driver; its own is spark-kubernetes-driver.
      name: first?.name ?? DRIVER_CONTAINER,
      image: spec.image ?? '',
      ...(spec.imagePullPolicy !== undefined ? { imagePullPolicy: spec.imagePullPolicy } : {}),
      args: ['driver', '--properties-file', '/opt/spark/conf/spark.properties', ...(spec.mainClass !== undefined ? ['--class', spec.mainClass] : []), spec.mainApplicationFile ?? '', ...(spec.arguments ?? [])],
      env: [...(first?.env ?? []), ...(d.env ?? []), { name: 'SPARK_DRIVER_BIND_ADDRESS', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } }],
    };
    const sa = d.serviceAccount ?? tpl.spec?.serviceAccountName;
    this.store.create('pods', {
      metadata: {
        name: podName,
        namespace: ns,
        labels: {
          ...tpl.metadata?.labels,
          ...d.labels,
          'spark-role': 'driver',
          'spark-app-selector': appId,
          'sparkoperator.k8s.io/app-name': name,
          'sparkoperator.k8s.io/launched-by-spark-operator': 'true',
          'sparkoperator.k8s.io/submission-id': submissionID,
        },
        ...(this.opts.ownsDriverPod === false ? {} : { ownerReferences: [{ apiVersion: GV, kind: 'SparkApplication', name, uid, controller: true, blockOwnerDeletion: true }] }),
      },
      spec: {
        ...(tpl.spec ?? {}),
        restartPolicy: 'Never',
        ...(sa !== undefined ? { serviceAccountName: sa } : {}),
        ...(spec.imagePullSecrets !== undefined ? { imagePullSecrets: spec.imagePullSecrets.map((n) => ({ name: n })) } : {}),
        containers: [container, ...sidecars],
      },
      status: { phase: 'Pending' },
    });
    this.setStatus(ns, name, {
      applicationState: { state: 'SUBMITTED' },
      driverInfo: { podName },
      sparkApplicationId: appId,
      submissionID,
      submissionAttempts: 1,
      lastSubmissionAttemptTime: stamp(),
    });
  }

  private sync(ns: string, name: string, submission: string, pod: KubeObject, deleted: boolean): void {
    const app = this.appOfSubmission(ns, name, submission);
    if (app === undefined) return;
    const state = ((app.status ?? {}) as { applicationState?: { state?: string } }).applicationState?.state ?? '';
    if (['COMPLETED', 'FAILED', 'SUBMISSION_FAILED'].includes(state)) return;
    const fail = (errorMessage: string): void => {
      this.setStatus(ns, name, { applicationState: { state: 'FAILING', errorMessage } });
      this.setStatus(ns, name, { applicationState: { state: 'FAILED', errorMessage }, terminationTime: stamp() });
    };
    if (deleted) {
      fail('driver pod not found');
      return;
    }
    const st = (pod.status ?? {}) as { phase?: string; reason?: string; message?: string; containerStatuses?: { name: string; state?: { terminated?: { exitCode?: number; reason?: string } } }[] };
    const containers = ((pod.spec ?? {}) as { containers?: { name: string }[] }).containers ?? [];
    const driverName = containers.some((c) => c.name === DRIVER_CONTAINER) ? DRIVER_CONTAINER : (containers[0]?.name ?? DRIVER_CONTAINER);
    const terminated = st.containerStatuses?.find((c) => c.name === driverName)?.state?.terminated;
    if (st.phase === 'Running' && state !== 'RUNNING') {
      this.setStatus(ns, name, { applicationState: { state: 'RUNNING' }, executionAttempts: 1 });
    } else if (st.phase === 'Succeeded') {
      this.setStatus(ns, name, { applicationState: { state: 'SUCCEEDING' } });
      this.setStatus(ns, name, { applicationState: { state: 'COMPLETED' }, terminationTime: stamp() });
    } else if (st.phase === 'Failed') {
      // The operator's own words, which name the container's exit, never the pod's reason (DeadlineExceeded).
      fail(`driver container failed with ExitCode: ${String(terminated?.exitCode ?? 1)}, Reason: ${terminated?.reason ?? 'Error'}`);
    }
  }
}
