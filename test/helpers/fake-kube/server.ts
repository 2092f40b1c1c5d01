// The HTTP side of the fake API server: the real REST paths, list/watch semantics, pod logs, Status
// errors, and the faults a test asks for.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kubelet } from './kubelet.js';
import type { Status } from './protocol.js';
import {
  SelectorError,
  alreadyExists,
  conflict,
  expired,
  fieldMatcher,
  invalid,
  jsonPatch,
  matchesLabels,
  mergePatch,
  notFound,
  parseLabelSelector,
  status,
} from './protocol.js';
import type { KubeObject, ObjectMeta, Resource, Store, StoreEvent } from './store.js';
import { qualifiedResource, RESOURCES } from './store.js';
import type { ValidationRecord } from './validate.js';
import { validateManifest } from './validate.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  contentType: string | undefined;
}

export interface Fault {
  method?: string;
  path: string | RegExp;
  status: number;
  /** How many matching requests fail; default 1. */
  times?: number;
  retryAfterSeconds?: number;
}

const CORE: Resource[] = ['namespaces', 'pods', 'secrets', 'configmaps', 'services', 'events'];
const BATCH: Resource[] = ['jobs'];
const NETWORKING: Resource[] = ['networkpolicies'];
const SPARK_OPERATOR: Resource[] = ['sparkapplications'];
const SPARK_GV = 'sparkoperator.k8s.io/v1beta2';

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

interface Route {
  resource: Resource;
  namespace: string | undefined;
  name: string | undefined;
  sub: string | undefined;
}

function parseRoute(path: string, sparkOperator: boolean): Route | undefined {
  let rest: string[];
  let allowed: Resource[];
  if (path.startsWith('/api/v1/')) {
    rest = path.slice('/api/v1/'.length).split('/');
    allowed = CORE;
  } else if (path.startsWith('/apis/batch/v1/')) {
    rest = path.slice('/apis/batch/v1/'.length).split('/');
    allowed = BATCH;
  } else if (path.startsWith('/apis/networking.k8s.io/v1/')) {
    rest = path.slice('/apis/networking.k8s.io/v1/'.length).split('/');
    allowed = NETWORKING;
  } else if (sparkOperator && path.startsWith(`/apis/${SPARK_GV}/`)) {
    // A custom resource is served only while its CRD is installed: without, the path is unknown (404).
    rest = path.slice(`/apis/${SPARK_GV}/`.length).split('/');
    allowed = SPARK_OPERATOR;
  } else return undefined;
  rest = rest.map(decodeURIComponent);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [res, name, sub, ...more] = rest;
  if (!res || more.length || !allowed.includes(res as Resource)) return undefined;
  const resource = res as Resource;
  if (namespace !== undefined && !RESOURCES[resource].namespaced) return undefined;
  return { resource, namespace, name: name || undefined, sub };
}

export interface ServerState {
  store: Store;
  kubelet: Kubelet;
  token: string;
  requests: RecordedRequest[];
  validations: ValidationRecord[];
  faults: Fault[];
  expireNextWatch: { http: boolean } | undefined;
  openWatches: Set<ServerResponse>;
  secondMs: number;
  version: { major: string; minor: string };
  /** The Spark operator's CRD is installed: sparkapplications are served. */
  sparkOperator: boolean;
  /** Its CRD has spec.driver/executor.template (operator 2.1 on); else the API server prunes them. */
  sparkTemplates: boolean;
  serverAddress: () => string;
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendStatus(res: ServerResponse, s: Status, headers: Record<string, string> = {}): void {
  send(res, s.code, s, headers);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A list answer: items carry no kind/apiVersion, as the real server sends them. */
function listOf(resource: Resource, items: KubeObject[], rv: number): unknown {
  const info = RESOURCES[resource];
  return {
    kind: `${info.kind}List`,
    apiVersion: info.apiVersion,
    metadata: { resourceVersion: String(rv) },
    items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
  };
}

function discovery(state: ServerState, path: string): unknown {
  const res = (name: string, kind: string, namespaced: boolean, verbs: string[]): unknown => ({
    name,
    singularName: name.includes('/') ? '' : kind.toLowerCase(),
    namespaced,
    kind,
    verbs,
  });
  const crud = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  switch (path) {
    case '/version':
      return {
        ...state.version,
        gitVersion: `v${state.version.major}.${state.version.minor}.0`,
        gitCommit: 'fake',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.22.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    case '/api':
      return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: state.serverAddress() }] };
    case '/apis':
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [
          { name: 'batch', versions: [{ groupVersion: 'batch/v1', version: 'v1' }], preferredVersion: { groupVersion: 'batch/v1', version: 'v1' } },
          { name: 'networking.k8s.io', versions: [{ groupVersion: 'networking.k8s.io/v1', version: 'v1' }], preferredVersion: { groupVersion: 'networking.k8s.io/v1', version: 'v1' } },
          ...(state.sparkOperator ? [{ name: 'sparkoperator.k8s.io', versions: [{ groupVersion: SPARK_GV, version: 'v1beta2' }], preferredVersion: { groupVersion: SPARK_GV, version: 'v1beta2' } }] : []),
        ],
      };
    case '/apis/networking.k8s.io':
      return { kind: 'APIGroup', apiVersion: 'v1', name: 'networking.k8s.io', versions: [{ groupVersion: 'networking.k8s.io/v1', version: 'v1' }], preferredVersion: { groupVersion: 'networking.k8s.io/v1', version: 'v1' } };
    case '/apis/networking.k8s.io/v1':
      return { kind: 'APIResourceList', groupVersion: 'networking.k8s.io/v1', resources: [res('networkpolicies', 'NetworkPolicy', true, crud)] };
    case '/apis/batch':
      return { kind: 'APIGroup', apiVersion: 'v1', name: 'batch', versions: [{ groupVersion: 'batch/v1', version: 'v1' }], preferredVersion: { groupVersion: 'batch/v1', version: 'v1' } };
    case '/api/v1':
      return {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          res('namespaces', 'Namespace', false, ['create', 'get', 'list', 'watch']),
          res('pods', 'Pod', true, crud),
          res('pods/log', 'Pod', true, ['get']),
          res('secrets', 'Secret', true, crud),
          res('configmaps', 'ConfigMap', true, crud),
          res('services', 'Service', true, crud),
          res('events', 'Event', true, crud),
        ],
      };
    case `/apis/${SPARK_GV}`:
      return state.sparkOperator
        ? { kind: 'APIResourceList', groupVersion: SPARK_GV, resources: [res('sparkapplications', 'SparkApplication', true, crud), res('sparkapplications/status', 'SparkApplication', true, ['get', 'patch', 'update'])] }
        : undefined;
    case '/apis/batch/v1':
      return { kind: 'APIResourceList', groupVersion: 'batch/v1', resources: [res('jobs', 'Job', true, crud), res('jobs/status', 'Job', true, ['get'])] };
    default:
      return undefined;
  }
}

export function createHandler(state: ServerState): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(state, req, res).catch((e: unknown) => {
      if (!res.headersSent) sendStatus(res, status(500, 'InternalError', `fake-kube: ${e instanceof Error ? e.message : String(e)}`));
      else res.destroy();
    });
  };
}

async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://fake');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const query = Object.fromEntries(url.searchParams);
  const method = req.method ?? 'GET';
  const raw = method === 'GET' || method === 'HEAD' ? '' : await readBody(req);
  let body: unknown = undefined;
  const contentType = req.headers['content-type']?.split(';')[0]?.trim();
  if (raw) {
    try {
      body = JSON.parse(raw);
    } catch {
      state.requests.push({ method, path, query, body: raw, contentType });
      sendStatus(res, status(400, 'BadRequest', `the body of the request was in an unknown format - accepted media types include: application/json`));
      return;
    }
  }
  state.requests.push({ method, path, query, body, contentType });

  if (req.headers.authorization !== `Bearer ${state.token}`) {
    sendStatus(res, status(401, 'Unauthorized', 'Unauthorized'));
    return;
  }

  const fault = state.faults.find((f) => (!f.method || f.method === method) && (typeof f.path === 'string' ? f.path === path : f.path.test(path)));
  if (fault) {
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) state.faults.splice(state.faults.indexOf(fault), 1);
    const reason = REASONS[fault.status] ?? 'InternalError';
    const retry = fault.retryAfterSeconds ?? (fault.status === 429 ? 1 : undefined);
    sendStatus(
      res,
      status(fault.status, reason, `fake-kube: injected ${fault.status}`, retry !== undefined ? { retryAfterSeconds: retry } : undefined),
      retry !== undefined ? { 'Retry-After': String(retry) } : {},
    );
    return;
  }

  const disc = method === 'GET' ? discovery(state, path) : undefined;
  if (disc !== undefined) {
    send(res, 200, disc);
    return;
  }

  const route = parseRoute(path, state.sparkOperator);
  if (!route) {
    sendStatus(res, status(404, 'NotFound', 'the server could not find the requested resource', {}));
    return;
  }
  try {
    await dispatch(state, route, method, query, body, contentType, req, res);
  } catch (e) {
    if (e instanceof SelectorError) sendStatus(res, status(400, 'BadRequest', e.message));
    else throw e;
  }
}

function namespaceMissing(state: ServerState, route: Route): boolean {
  return route.namespace !== undefined && !state.store.get('namespaces', undefined, route.namespace);
}

async function dispatch(
  state: ServerState,
  route: Route,
  method: string,
  query: Record<string, string>,
  body: unknown,
  contentType: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { store } = state;
  const { resource, namespace, name, sub } = route;
  const info = RESOURCES[resource];
  const isWatch = query.watch === 'true' || query.watch === '1';

  if (name === undefined) {
    if (method === 'GET') {
      const labels = parseLabelSelector(query.labelSelector);
      const fields = fieldMatcher(query.fieldSelector);
      const filter = (o: KubeObject): boolean =>
        (namespace === undefined || o.metadata.namespace === namespace) && matchesLabels(labels, o.metadata.labels) && fields(o);
      if (isWatch) {
        watch(state, resource, filter, query, req, res);
        return;
      }
      send(res, 200, listOf(resource, store.list(resource, namespace, filter), store.resourceVersion));
      return;
    }
    if (method === 'POST') {
      create(state, resource, namespace, query, body, res);
      return;
    }
    sendStatus(res, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    return;
  }

  if (namespaceMissing(state, route)) {
    sendStatus(res, notFound('namespaces', namespace ?? ''));
    return;
  }
  const current = store.get(resource, namespace, name);

  if (sub === 'log') {
    if (resource !== 'pods' || method !== 'GET') {
      sendStatus(res, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
      return;
    }
    if (!current) {
      sendStatus(res, notFound('pods', name));
      return;
    }
    await podLog(state, current, query, req, res);
    return;
  }
  if (sub !== undefined && !(sub === 'status' && resource === 'jobs' && method === 'GET')) {
    sendStatus(res, status(404, 'NotFound', 'the server could not find the requested resource', {}));
    return;
  }

  if (method === 'GET') {
    if (!current) sendStatus(res, notFound(resource, name));
    else send(res, 200, current);
    return;
  }
  // Server-side apply (what spark-submit's fabric8 client uses for the driver's config map and
  // service): creates a missing object, else merges into it (field ownership is not modelled).
  const apply = method === 'PATCH' && contentType === 'application/apply-patch+yaml';
  if (apply && !current) {
    create(state, resource, namespace, query, body, res);
    return;
  }
  if (method === 'PUT' || method === 'PATCH') {
    if (!current) {
      sendStatus(res, notFound(resource, name));
      return;
    }
    let next: unknown;
    if (method === 'PUT') next = body;
    else if (contentType === 'application/json-patch+json') next = jsonPatch(current, body);
    else if (contentType === 'application/merge-patch+json' || contentType === 'application/strategic-merge-patch+json' || apply) next = mergePatch(current, body);
    else {
      sendStatus(res, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`));
      return;
    }
    const n = next as Incoming | undefined;
    const sentRv = n?.metadata?.resourceVersion;
    if (method === 'PUT' && sentRv !== undefined && sentRv !== current.metadata.resourceVersion) {
      sendStatus(res, conflict(resource, name));
      return;
    }
    if (n?.metadata?.name !== undefined && n.metadata.name !== name) {
      sendStatus(res, status(400, 'BadRequest', `the name of the object (${n.metadata.name}) does not match the name on the URL (${name})`));
      return;
    }
    const normalized = normalizeWrite(resource, { ...n, metadata: { ...n?.metadata, name } });
    if (!checkValid(state, resource, name, normalized, res)) return;
    if (query.dryRun === 'All') {
      send(res, 200, { ...current, ...normalized, metadata: current.metadata });
      return;
    }
    const updated = store.mutate(resource, namespace, name, (o) => {
      const keep: ObjectMeta = o.metadata;
      // A Job's status (and a SparkApplication's: its CRD has the status subresource) is written only
      // by its controller, never by PUT or PATCH of the object.
      const keepStatus = resource === 'jobs' || resource === 'sparkapplications' ? o.status : undefined;
      for (const k of Object.keys(o)) if (k !== 'metadata') Reflect.deleteProperty(o, k);
      if (keepStatus !== undefined) o.status = keepStatus;
      Object.assign(o, normalized, { apiVersion: info.apiVersion, kind: info.kind }, keepStatus !== undefined ? { status: keepStatus } : {});
      const m = normalized.metadata;
      o.metadata = {
        ...keep,
        ...(m.labels ? { labels: m.labels } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
      };
      if (!m.labels) delete o.metadata.labels;
      if (!m.annotations) delete o.metadata.annotations;
    });
    send(res, 200, updated);
    return;
  }
  if (method === 'DELETE') {
    if (!current) {
      sendStatus(res, notFound(resource, name));
      return;
    }
    const opts = (body ?? {}) as { propagationPolicy?: string; orphanDependents?: boolean; preconditions?: { uid?: string; resourceVersion?: string } };
    const pre = opts.preconditions;
    if (pre?.uid !== undefined && pre.uid !== current.metadata.uid) {
      sendStatus(res, status(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(resource)} "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`, { name, group: info.group, kind: resource }));
      return;
    }
    const orphanFlag = query.orphanDependents ?? (opts.orphanDependents === undefined ? undefined : String(opts.orphanDependents));
    // Jobs default to orphaning their pods when deleted through the API (kubectl asks for Background).
    const policy = query.propagationPolicy ?? opts.propagationPolicy ?? (orphanFlag === 'false' ? 'Background' : resource === 'jobs' ? 'Orphan' : 'Background');
    if (!['Orphan', 'Background', 'Foreground'].includes(policy)) {
      sendStatus(res, invalid(resource, name, [{ reason: 'FieldValueNotSupported', field: 'propagationPolicy', message: `Unsupported value: "${policy}"` }]));
      return;
    }
    deleteWithPolicy(state, resource, namespace, current, policy);
    sendStatus(res, status(200, undefined, undefined, { name, group: info.group, kind: resource, uid: current.metadata.uid }));
    return;
  }
  sendStatus(res, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
}

function dependents(store: Store, namespace: string | undefined, uid: string): KubeObject[] {
  return store.list('pods', namespace, (p) => (p.metadata.ownerReferences ?? []).some((o) => o.uid === uid));
}

function deleteWithPolicy(state: ServerState, resource: Resource, namespace: string | undefined, obj: KubeObject, policy: string): void {
  const { store } = state;
  const name = obj.metadata.name;
  const uid = obj.metadata.uid;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const removePods = (): void => {
    for (const p of dependents(store, namespace, uid)) store.remove('pods', namespace, p.metadata.name);
  };
  if (policy === 'Orphan') {
    for (const p of dependents(store, namespace, uid)) {
      store.mutate('pods', namespace, p.metadata.name, (o) => {
        const left = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (left.length) o.metadata.ownerReferences = left;
        else delete o.metadata.ownerReferences;
      });
    }
    store.remove(resource, namespace, name);
  } else if (policy === 'Background') {
    store.remove(resource, namespace, name);
    // The garbage collector catches up shortly after: for a SparkApplication's driver pod the
    // delay is made visible, so that a re-run that does not wait for the old pod fails as it would
    // on a cluster ("driver pod already exist").
    if (resource === 'sparkapplications') setTimeout(removePods, 300);
    else setImmediate(removePods);
  } else {
    store.mutate(resource, namespace, name, (o) => {
      o.metadata.deletionTimestamp = now;
      o.metadata.finalizers = [...(o.metadata.finalizers ?? []), 'foregroundDeletion'];
    });
    setImmediate(() => {
      removePods();
      store.remove(resource, namespace, name);
    });
  }
}

/** A body as a client sends it: any metadata may be missing. */
type Incoming = Omit<Partial<KubeObject>, 'metadata'> & { metadata?: Partial<ObjectMeta> };

/** What the real server does to a body before storing it: stringData folds into data, defaults. */
function normalizeWrite(resource: Resource, body: Incoming): Incoming & { metadata: Partial<ObjectMeta> } {
  const out = structuredClone(body) as Incoming & { metadata: Partial<ObjectMeta> };
  out.metadata = { ...out.metadata };
  // Fields the server owns are ignored when a client sends them.
  for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'deletionTimestamp'] as const) Reflect.deleteProperty(out.metadata, k);
  if (resource === 'secrets') {
    const s = out as { stringData?: Record<string, string>; data?: Record<string, string>; type?: string };
    if (s.stringData) {
      s.data = { ...s.data };
      for (const [k, v] of Object.entries(s.stringData)) s.data[k] = Buffer.from(v).toString('base64');
      delete s.stringData;
    }
    s.type ??= 'Opaque';
  }
  if (resource === 'jobs' || resource === 'sparkapplications') delete out.status;
  return out;
}

function checkValid(state: ServerState, resource: Resource, name: string, body: unknown, res: ServerResponse): boolean {
  const causes = validateManifest(resource, body);
  state.validations.push({ resource, name, ok: causes.length === 0, causes });
  if (causes.length) sendStatus(res, invalid(resource, name, causes));
  return causes.length === 0;
}

function jobDefaults(job: KubeObject, uid: string): void {
  const spec = (job.spec ?? {}) as {
    completions?: number;
    parallelism?: number;
    backoffLimit?: number;
    completionMode?: string;
    suspend?: boolean;
    selector?: unknown;
    template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: { image?: string; imagePullPolicy?: string; terminationMessagePath?: string; terminationMessagePolicy?: string }[] } };
  };
  const name = job.metadata.name;
  if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.selector ??= { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  spec.template ??= {};
  spec.template.metadata = {
    ...spec.template.metadata,
    labels: {
      ...spec.template.metadata?.labels,
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
    },
  };
  for (const c of spec.template.spec?.containers ?? []) {
    const tagged = c.image?.includes('@') || (/:[^/]+$/.test(c.image ?? '') && !c.image?.endsWith(':latest'));
    c.imagePullPolicy ??= tagged ? 'IfNotPresent' : 'Always';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
  }
  job.spec = spec;
}

function create(state: ServerState, resource: Resource, namespace: string | undefined, query: Record<string, string>, body: unknown, res: ServerResponse): void {
  const { store } = state;
  const b = (body ?? {}) as Incoming;
  const info = RESOURCES[resource];
  if (b.kind !== undefined && b.kind !== info.kind) {
    sendStatus(res, status(400, 'BadRequest', `the API version in the data (${String(b.apiVersion)}) does not match the expected API version (${info.apiVersion})`));
    return;
  }
  if (namespace !== undefined && b.metadata?.namespace !== undefined && b.metadata.namespace !== namespace) {
    sendStatus(res, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    return;
  }
  if (namespace !== undefined && !store.get('namespaces', undefined, namespace)) {
    sendStatus(res, notFound('namespaces', namespace));
    return;
  }
  const meta = b.metadata ?? {};
  let name = meta.name;
  if (name === undefined && meta.generateName !== undefined) name = `${meta.generateName}${Math.random().toString(36).slice(2, 7)}`;
  if (name === undefined) {
    sendStatus(res, invalid(resource, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]));
    return;
  }
  const normalized = normalizeWrite(resource, { ...b, metadata: { ...meta, name } });
  if (!checkValid(state, resource, name, normalized, res)) return;
  // Before 1.29 (1.28: an alpha behind a gate that is off) the API server drops a field it does not
  // serve instead of refusing it: backoffLimitPerIndex vanishes from the stored Job.
  if (resource === 'jobs' && Number(state.version.minor) < 29) Reflect.deleteProperty((normalized.spec ?? {}), 'backoffLimitPerIndex');
  // A structural CRD prunes fields its schema does not have, without an error.
  if (resource === 'sparkapplications' && !state.sparkTemplates) {
    for (const role of ['driver', 'executor']) Reflect.deleteProperty(((normalized.spec ?? {}) as Record<string, object>)[role] ?? {}, 'template');
  }
  if (store.get(resource, namespace, name)) {
    sendStatus(res, alreadyExists(resource, name));
    return;
  }
  const withNs = { ...normalized, metadata: { ...normalized.metadata, name, ...(namespace !== undefined ? { namespace } : {}) } };
  if (query.dryRun === 'All') {
    send(res, 201, withNs);
    return;
  }
  const created = store.create(resource, withNs, (o) => {
    if (resource !== 'jobs') return;
    jobDefaults(o, o.metadata.uid);
    o.metadata.labels = { 'batch.kubernetes.io/controller-uid': o.metadata.uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': o.metadata.uid, 'job-name': name, ...o.metadata.labels };
  });
  send(res, 201, created);
}

function watch(
  state: ServerState,
  resource: Resource,
  filter: (o: KubeObject) => boolean,
  query: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const { store } = state;
  const rvParam = query.resourceVersion;
  const forced = state.expireNextWatch;
  state.expireNextWatch = undefined;
  const requested = rvParam ? Number(rvParam) : undefined;
  const replay = requested === undefined || requested === 0 ? undefined : store.since(requested);
  const tooOld = forced !== undefined || (requested !== undefined && requested !== 0 && replay === undefined);
  if (tooOld && forced?.http) {
    sendStatus(res, expired(requested ?? 0, store.resourceVersion));
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  // A real API server sends the headers of a watch at once, before any event: client-go (kubectl wait)
  // blocks in the request until then, and cannot be stopped while it waits.
  res.flushHeaders();
  const write = (type: string, object: unknown): void => {
    res.write(`${JSON.stringify({ type, object })}\n`);
  };
  if (tooOld) {
    // As a real API server does: HTTP 200, then one ERROR event carrying a 410 Status, then EOF.
    write('ERROR', expired(requested ?? 0, store.resourceVersion));
    res.end();
    return;
  }
  const deliver = (ev: StoreEvent): void => {
    if (ev.resource === resource && filter(ev.object)) write(ev.type, ev.object);
  };
  if (requested === undefined || requested === 0) {
    const info = RESOURCES[resource];
    for (const o of store.list(resource, undefined, filter)) deliver({ rv: Number(o.metadata.resourceVersion), type: 'ADDED', resource, object: { ...o, kind: info.kind, apiVersion: info.apiVersion } });
  } else {
    for (const ev of replay ?? []) deliver(ev);
  }
  const live = (ev: StoreEvent): void => {
    deliver(ev);
  };
  store.events.on('event', live);
  state.openWatches.add(res);
  const timeout = query.timeoutSeconds ? setTimeout(() => res.end(), Number(query.timeoutSeconds) * state.secondMs) : undefined;
  const cleanup = (): void => {
    store.events.off('event', live);
    state.openWatches.delete(res);
    clearTimeout(timeout);
  };
  res.on('close', cleanup);
  req.on('close', cleanup);
}

async function podLog(state: ServerState, pod: KubeObject, query: Record<string, string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ns = pod.metadata.namespace ?? '';
  const spec = pod.spec as { containers?: { name: string }[] } | undefined;
  const names = (spec?.containers ?? []).map((c) => c.name);
  const container = query.container ?? (names.length === 1 ? names[0] : undefined);
  const podName = pod.metadata.name;
  if (container === undefined) {
    sendStatus(res, status(400, 'BadRequest', `a container name must be specified for pod ${podName}, choose one of: [${names.join(' ')}]`));
    return;
  }
  if (!names.includes(container)) {
    sendStatus(res, status(400, 'BadRequest', `container ${container} is not valid for pod ${podName}`));
    return;
  }
  if (query.previous === 'true') {
    // Pods of a Job with restartPolicy Never are replaced, never restarted, so there is no previous instance.
    sendStatus(res, status(400, 'BadRequest', `previous terminated container "${container}" in pod "${podName}" not found`));
    return;
  }
  const buf = state.kubelet.logBuffer(ns, podName, container);
  if (!buf) {
    const st = pod.status as { containerStatuses?: { name: string; state?: { waiting?: { reason?: string } } }[] } | undefined;
    const reason = st?.containerStatuses?.find((c) => c.name === container)?.state?.waiting?.reason ?? 'ContainerCreating';
    sendStatus(res, status(400, 'BadRequest', `container "${container}" in pod "${podName}" is waiting to start: ${reason}`));
    return;
  }
  const follow = query.follow === 'true';
  const timestamps = query.timestamps === 'true';
  let sent = query.tailLines !== undefined ? Math.max(0, buf.lines.length - Number(query.tailLines)) : 0;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders(); // as for a watch: a follow with no line yet still answers at once
  const flush = (): void => {
    while (sent < buf.lines.length) {
      const l = buf.lines[sent++];
      if (l) res.write(timestamps ? `${l.time} ${l.text}\n` : `${l.text}\n`);
    }
  };
  flush();
  if (!follow || buf.done) {
    res.end();
    return;
  }
  const event = `log:${ns}/${podName}/${container}`;
  await new Promise<void>((resolve) => {
    const on = (): void => {
      flush();
      if (buf.done) finish();
    };
    const finish = (): void => {
      state.kubelet.logEvents.off(event, on);
      state.openWatches.delete(res);
      resolve();
    };
    state.kubelet.logEvents.on(event, on);
    state.openWatches.add(res);
    req.on('close', finish);
  });
  if (!res.writableEnded) res.end();
}
