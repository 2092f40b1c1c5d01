// The fake API server's object store: one global resourceVersion counter (as etcd's revision is for a
// real cluster), every write bumps it, and a bounded event history lets watches resume from a
// resourceVersion until it falls out of the window, after which they get 410 Expired.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IPod } from 'kubernetes-models/v1/Pod';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  generateName?: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

/** Any object as stored: the wire JSON with the metadata the server owns filled in. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type StoredJob = Omit<IJob, 'metadata'> & { metadata: ObjectMeta };
export type StoredPod = Omit<IPod, 'metadata'> & { metadata: ObjectMeta };

export type Resource = 'namespaces' | 'jobs' | 'pods' | 'secrets' | 'configmaps' | 'services' | 'networkpolicies' | 'events' | 'sparkapplications';

export interface ResourceInfo {
  kind: string;
  apiVersion: string;
  group: string; // '' for core
  namespaced: boolean;
}

export const RESOURCES: Record<Resource, ResourceInfo> = {
  namespaces: { kind: 'Namespace', apiVersion: 'v1', group: '', namespaced: false },
  pods: { kind: 'Pod', apiVersion: 'v1', group: '', namespaced: true },
  secrets: { kind: 'Secret', apiVersion: 'v1', group: '', namespaced: true },
  configmaps: { kind: 'ConfigMap', apiVersion: 'v1', group: '', namespaced: true },
  // spark-submit in cluster mode creates a headless Service for the driver pod.
  services: { kind: 'Service', apiVersion: 'v1', group: '', namespaced: true },
  // What controllers report (the Job controller's FailedCreate when a pod is refused).
  events: { kind: 'Event', apiVersion: 'v1', group: '', namespaced: true },
  jobs: { kind: 'Job', apiVersion: 'batch/v1', group: 'batch', namespaced: true },
  // Spark 4's spark-submit applies a NetworkPolicy that lets only its own pods reach the driver.
  networkpolicies: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', group: 'networking.k8s.io', namespaced: true },
  // The Kubernetes Spark operator's custom resource (served only when the fake has the operator).
  sparkapplications: { kind: 'SparkApplication', apiVersion: 'sparkoperator.k8s.io/v1beta2', group: 'sparkoperator.k8s.io', namespaced: true },
};

/** `jobs.batch` / `pods`, as the API server names a resource in its messages. */
export function qualifiedResource(resource: Resource): string {
  const g = RESOURCES[resource].group;
  return g ? `${resource}.${g}` : resource;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: WatchEventType;
  resource: Resource;
  object: KubeObject; // a snapshot, with kind and apiVersion set, as a watch sends it
}

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Store {
  private revision = 1;
  private readonly objects = new Map<Resource, Map<string, KubeObject>>();
  private history: StoreEvent[] = [];
  /** Every event with rv greater than this is still in `history`; older resourceVersions are gone. */
  compactedRv = 1;
  readonly events = new EventEmitter();

  constructor(private readonly window: number) {
    for (const r of Object.keys(RESOURCES) as Resource[]) this.objects.set(r, new Map());
    this.events.setMaxListeners(0);
  }

  get resourceVersion(): number {
    return this.revision;
  }

  private table(resource: Resource): Map<string, KubeObject> {
    const t = this.objects.get(resource);
    if (!t) throw new Error(`fake-kube: unknown resource ${resource}`);
    return t;
  }

  /** A copy; change objects through create/update/mutate/remove so watches see it. */
  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.table(resource).get(key(namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  list(resource: Resource, namespace?: string, filter?: (o: KubeObject) => boolean): KubeObject[] {
    const out: KubeObject[] = [];
    for (const o of this.table(resource).values()) {
      if (namespace !== undefined && o.metadata.namespace !== namespace) continue;
      if (filter && !filter(o)) continue;
      out.push(structuredClone(o));
    }
    return out.sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
  }

  /** `prepare` sees the object once the server-owned metadata (uid) is set, before anyone else does. */
  create(
    resource: Resource,
    input: Omit<KubeObject, 'metadata'> & { metadata: Partial<ObjectMeta> & { name: string } },
    prepare?: (o: KubeObject) => void,
  ): KubeObject {
    const info = RESOURCES[resource];
    const rv = ++this.revision;
    const obj: KubeObject = {
      ...structuredClone(input),
      apiVersion: info.apiVersion,
      kind: info.kind,
      metadata: {
        ...structuredClone(input.metadata),
        uid: randomUUID(),
        resourceVersion: String(rv),
        generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    };
    if (!info.namespaced) delete obj.metadata.namespace;
    prepare?.(obj);
    this.table(resource).set(key(obj.metadata.namespace, obj.metadata.name), obj);
    this.record(rv, 'ADDED', resource, obj);
    return structuredClone(obj);
  }

  /** Change a stored object in place; bumps resourceVersion (and generation when spec changes). */
  mutate(resource: Resource, namespace: string | undefined, name: string, fn: (o: KubeObject) => void): KubeObject | undefined {
    const o = this.table(resource).get(key(namespace, name));
    if (!o) return undefined;
    const specBefore = JSON.stringify(o.spec);
    fn(o);
    const rv = ++this.revision;
    o.metadata.resourceVersion = String(rv);
    if (JSON.stringify(o.spec) !== specBefore) o.metadata.generation = (o.metadata.generation ?? 1) + 1;
    this.record(rv, 'MODIFIED', resource, o);
    return structuredClone(o);
  }

  remove(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const t = this.table(resource);
    const k = key(namespace, name);
    const o = t.get(k);
    if (!o) return undefined;
    t.delete(k);
    const rv = ++this.revision;
    o.metadata.resourceVersion = String(rv);
    this.record(rv, 'DELETED', resource, o);
    return structuredClone(o);
  }

  /** Events after `rv` for replay, or undefined when `rv` is older than the kept window. */
  since(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  /** Forget all history up to now, like an etcd compaction: older resourceVersions answer 410. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.revision;
  }

  private record(rv: number, type: WatchEventType, resource: Resource, obj: KubeObject): void {
    const ev: StoreEvent = { rv, type, resource, object: structuredClone(obj) };
    this.history.push(ev);
    while (this.history.length > this.window) {
      const dropped = this.history.shift();
      if (dropped) this.compactedRv = dropped.rv;
    }
    this.events.emit('event', ev);
  }
}
