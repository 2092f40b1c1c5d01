/**
 * The only file that imports @kubernetes/client-node: cluster access found the way kubectl finds it,
 * and the few calls the adapter makes (Jobs, Pods and their logs, Secrets, ConfigMaps, namespaces),
 * each mapped to a coded ferry error. Manifests go out as the plain objects manifest.ts builds.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ApiException, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, Log, V1DeleteOptions, V1Preconditions, Watch } from '@kubernetes/client-node';
import { authError, configError, FerryError, tempError, unavailableError } from '../../core/errors.js';
import { nearest } from '../../core/suggest.js';
import { abortableSleep } from '../../infra/sleep.js';

export type Obj = Record<string, unknown>;

/** Where the adapter is: for errors. */
export interface KubeWhere {
  file: string;
  target: string;
  /** ferry.yaml:LINE:COL of a key, when known. */
  locate?: ((key: string[]) => string | undefined) | undefined;
  /** --debug lines: each request (method and object, never a body). */
  debug?: ((line: string) => void) | undefined;
  /** Where the target keeps kubeconfig and context (the spark target: under kubernetes). */
  keyPrefix?: string[] | undefined;
}

export interface KubeAccess {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
}

/** A cluster as ferry found it. */
export interface KubeCluster {
  /** The API server's URL. */
  server: string;
  /** The context used, or "in-cluster". */
  context: string;
  namespace: string;
  /** Where the kubeconfig came from, for messages. */
  source: string;
  api: KubeApi;
}

/** A custom resource kind, as its CRD serves it (e.g. the Spark operator's SparkApplication). */
export interface CustomKind {
  group: string;
  version: string;
  /** The resource's plural, as in its REST path (sparkapplications). */
  plural: string;
  kind: string;
}

export interface WatchEvent {
  type: string;
  object: Obj;
}

export interface KubeApi {
  /** Requests made so far (the benchmark counts them); a watch counts once. */
  readonly requests: { method: string; what: string }[];
  /** true or false; undefined when the user may not read namespaces (RBAC), so ferry cannot tell. */
  namespaceExists(ns: string): Promise<boolean | undefined>;
  /** The keys of a Secret (never its values); undefined when it does not exist, 'forbidden' when ferry may not read it. */
  secretKeys(ns: string, name: string): Promise<string[] | undefined | 'forbidden'>;
  configMapKeys(ns: string, name: string): Promise<string[] | undefined | 'forbidden'>;
  readSecret(ns: string, name: string): Promise<Obj | undefined>;
  /** 'exists' when a Secret of that name is there already. */
  createSecret(ns: string, body: Obj): Promise<'created' | 'exists'>;
  replaceSecret(ns: string, name: string, body: Obj): Promise<void>;
  /** Creates the Job; 'exists' when one of that name is there already. */
  createJob(ns: string, body: Obj): Promise<Obj | 'exists'>;
  readJob(ns: string, name: string): Promise<Obj | undefined>;
  /** Deletes it (Background); false when it is not there, or (with `uid`) when the object of that name is another. */
  deleteJob(ns: string, name: string, uid?: string): Promise<boolean>;
  listPods(ns: string, labelSelector: string): Promise<Obj[]>;
  readPod(ns: string, name: string): Promise<Obj | undefined>;
  /** Events in the namespace matching a field selector (involvedObject.*, reason, type); [] when ferry may not read them. */
  listEvents(ns: string, fieldSelector: string): Promise<Obj[]>;
  /**
   * One watch of one Job from resourceVersion: calls onEvent per event, resolves when the stream
   * ends (the server closed it, or `signal` aborted). A 410 Gone arrives as an ERROR event.
   */
  watchJob(ns: string, name: string, resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void>;
  /** The resources the API server serves in group/version, or undefined when it serves none (no such CRD installed). */
  apiResources(group: string, version: string): Promise<string[] | undefined>;
  /** Creates a custom object; 'exists' when one of that name is there already. */
  createCustom(kind: CustomKind, ns: string, body: Obj, opts?: { dryRun?: boolean }): Promise<Obj | 'exists'>;
  readCustom(kind: CustomKind, ns: string, name: string): Promise<Obj | undefined>;
  /** Deletes it with propagationPolicy Background (its dependents go too); false when it was not there (or, with `uid`, is another). */
  deleteCustom(kind: CustomKind, ns: string, name: string, uid?: string): Promise<boolean>;
  /** Deletes a pod (Background); false when it was not there. */
  deletePod(ns: string, name: string): Promise<boolean>;
  /** As watchJob, for one custom object. */
  watchCustom(kind: CustomKind, ns: string, name: string, resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void>;
  /** Writes a container's log to `out`, following it while the container runs; resolves when the stream ends. */
  podLog(ns: string, pod: string, container: string, out: Writable, opts: { follow: boolean; signal?: AbortSignal | undefined; timestamps?: boolean; sinceTime?: string | undefined }): Promise<void>;
}

/** What the API said, as a Status object. */
interface StatusBody {
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

function statusOf(e: ApiException<unknown>): StatusBody {
  const body = e.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {});
}

function codeOf(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/** An API failure as a ferry error, naming the call and what to do. */
export function kubeError(e: unknown, what: string, where: KubeWhere, server: string): FerryError {
  if (e instanceof FerryError) return e;
  const at = `${where.file} (targets.${where.target})`;
  if (e instanceof ApiException) {
    const s = statusOf(e);
    const msg = `${what}: ${String(e.code)} ${s.reason ?? ''}${s.message !== undefined ? `: ${s.message}` : ''}`;
    if (e.code === 401) {
      return authError('K8S_UNAUTHORIZED', `${msg} (the API server at ${server} did not accept the kubeconfig's credentials)`, {
        where: at,
        cause: e,
        suggestions: ['renew the credentials (e.g. your cloud CLI\'s `get-credentials`, or `kubectl config view` to see the user in use)', 'check that the context names the right cluster'],
      });
    }
    if (e.code === 404 && what.startsWith('creating')) {
      // A create answered 404: the namespace does not exist (seen when RBAC hid it from ferry's check).
      return configError('K8S_NAMESPACE_NOT_FOUND', `${msg} (the namespace does not exist)`, { where: at, cause: e, suggestions: ['create the namespace, or name an existing one in the target'] });
    }
    if (e.code === 403) {
      return authError('K8S_FORBIDDEN', msg, { where: at, cause: e, suggestions: ['ask a cluster admin for a Role granting this in the namespace (`kubectl auth can-i create jobs -n NS` shows what you may do)'] });
    }
    if (e.code === 422 || e.code === 400) {
      const causes = (s.details?.causes ?? []).map((c) => `${c.field ?? ''}: ${c.message ?? ''}`);
      return configError('K8S_REJECTED', `${msg}${causes.length > 0 ? ` (${causes.join('; ')})` : ''}`, { where: at, cause: e, suggestions: ['fix the named field in ferry.yaml; `ferry plan` prints the manifest ferry sends'] });
    }
    return tempError('K8S_API_ERROR', msg, { where: at, cause: e, suggestions: ['try again; if it persists, check the API server (`kubectl get --raw /readyz`)'] });
  }
  const m = e instanceof Error ? e.message : String(e);
  const cause = (e as { cause?: { code?: string } } | undefined)?.cause?.code;
  return unavailableError('K8S_UNREACHABLE', `${what}: cannot reach the API server at ${server}: ${cause ?? m}`, {
    where: at,
    cause: e,
    suggestions: ['check the cluster is up and reachable from here (VPN, `kubectl cluster-info`)', 'check the context in use: `kubectl config current-context`'],
  });
}

/** Delete options that make the API server refuse when the object of that name has another uid. */
function onlyUid(uid: string): V1DeleteOptions {
  const pre = new V1Preconditions();
  pre.uid = uid;
  const o = new V1DeleteOptions();
  o.preconditions = pre;
  return o;
}

/** Transient: 429, 5xx, or no answer. Worth the same request again. */
function transient(e: unknown): boolean {
  const code = codeOf(e);
  if (code === undefined) return !(e instanceof FerryError);
  return code === 429 || code >= 500;
}

const ATTEMPTS = 4;

/** Reads the kubeconfig as kubectl would, picks the context and the namespace. */
export function loadCluster(access: KubeAccess, where: KubeWhere, env: NodeJS.ProcessEnv, configDir: string, deps: { api?: (kc: KubeConfig, server: string) => KubeApi } = {}): KubeCluster {
  const kc = new KubeConfig();
  let source: string;
  const keyPath = (key: string): string[] => ['targets', where.target, ...(where.keyPrefix ?? []), key];
  const at = (key: string): string => `${where.locate?.(keyPath(key)) ?? where.file} (${keyPath(key).join('.')})`;
  try {
    if (access.kubeconfig !== undefined) {
      const file = path.resolve(configDir, access.kubeconfig);
      if (!existsSync(file)) {
        throw configError('K8S_KUBECONFIG_NOT_FOUND', `kubeconfig ${file} does not exist`, { where: at('kubeconfig'), suggestions: ['fix the path (relative to ferry.yaml), or drop kubeconfig: to use $KUBECONFIG or ~/.kube/config'] });
      }
      kc.loadFromFile(file);
      source = file;
    } else if (env['KUBECONFIG'] !== undefined && env['KUBECONFIG'] !== '') {
      const files = env['KUBECONFIG'].split(path.delimiter).filter((f) => f !== '');
      const present = files.filter((f) => existsSync(f));
      if (present.length === 0) {
        throw configError('K8S_KUBECONFIG_NOT_FOUND', `none of the files in $KUBECONFIG exists (${files.join(', ')})`, { where: '$KUBECONFIG', suggestions: ['point KUBECONFIG at your kubeconfig file, or unset it to use ~/.kube/config'] });
      }
      // kubectl merges the list: the first file that names a cluster, user or context wins it,
      // and the first current-context set is used. (client-node's mergeConfig refuses a name
      // given twice instead.) Each file is loaded alone, so its relative paths stay its own.
      const loaded = present.map((f) => {
        const one = new KubeConfig();
        one.loadFromFile(f);
        return one;
      });
      const firstOf = <T extends { name: string }>(lists: T[][]): T[] => {
        const seen = new Set<string>();
        return lists.flat().filter((x) => !seen.has(x.name) && seen.add(x.name));
      };
      kc.loadFromOptions({
        clusters: firstOf(loaded.map((k) => k.clusters)),
        users: firstOf(loaded.map((k) => k.users)),
        contexts: firstOf(loaded.map((k) => k.contexts)),
        currentContext: loaded.map((k) => k.currentContext).find((c) => c !== '') ?? '',
      });
      source = `$KUBECONFIG (${present.join(', ')})`;
    } else if (existsSync(path.join(env['HOME'] ?? homedir(), '.kube', 'config'))) {
      const file = path.join(env['HOME'] ?? homedir(), '.kube', 'config');
      kc.loadFromFile(file);
      source = file;
    } else if (env['KUBERNETES_SERVICE_HOST'] !== undefined && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
      kc.loadFromCluster();
      source = 'in-cluster service account';
    } else {
      throw configError('K8S_NO_KUBECONFIG', `no cluster to talk to: no kubeconfig key in targets.${where.target}, $KUBECONFIG is unset, ~/.kube/config does not exist, and ferry is not running in a pod`, {
        where: at('type'),
        suggestions: ['set kubeconfig: in the target, or KUBECONFIG, or run `kubectl config` / your cloud CLI to write ~/.kube/config'],
      });
    }
  } catch (e) {
    if (e instanceof FerryError) throw e;
    throw configError('K8S_KUBECONFIG_INVALID', `cannot read the kubeconfig: ${e instanceof Error ? e.message : String(e)}`, { where: access.kubeconfig !== undefined ? at('kubeconfig') : '$KUBECONFIG', cause: e, suggestions: ['check it with `kubectl config view`'] });
  }

  let contextName = kc.getCurrentContext();
  if (access.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (kc.getContextObject(access.context) === null) {
      const near = nearest(access.context, names);
      throw configError('K8S_CONTEXT_UNKNOWN', `the kubeconfig (${source}) has no context ${JSON.stringify(access.context)}${names.length > 0 ? `; it has ${names.join(', ')}` : ''}`, {
        where: at('context'),
        suggestions: [near !== undefined ? `did you mean ${near}?` : 'list them with `kubectl config get-contexts`'],
        details: { contexts: names },
      });
    }
    kc.setCurrentContext(access.context);
    contextName = access.context;
  }
  const ctxObj = source === 'in-cluster service account' ? undefined : kc.getContextObject(contextName);
  if (source !== 'in-cluster service account' && (contextName === '' || ctxObj === null)) {
    throw configError('K8S_CONTEXT_UNKNOWN', `the kubeconfig (${source}) has no current context`, { where: at('context'), suggestions: ['set context: in the target, or run `kubectl config use-context NAME`'] });
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    throw configError('K8S_KUBECONFIG_INVALID', `context ${contextName} names a cluster the kubeconfig (${source}) does not define`, { where: at('context'), suggestions: ['check it with `kubectl config view`'] });
  }
  let namespace = access.namespace ?? ctxObj?.namespace;
  if (namespace === undefined && source === 'in-cluster service account') {
    try {
      namespace = readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
    } catch {
      namespace = undefined;
    }
  }
  const server = cluster.server;
  return {
    server,
    context: source === 'in-cluster service account' ? 'in-cluster' : contextName,
    namespace: namespace ?? 'default',
    source,
    api: deps.api !== undefined ? deps.api(kc, server) : clientApi(kc, server, where),
  };
}

/** The client-node calls, with retries of transient failures on reads (and on creates: a 409 then tells). */
function clientApi(kc: KubeConfig, server: string, where: KubeWhere): KubeApi {
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const requests: { method: string; what: string }[] = [];

  async function call<T>(method: string, what: string, f: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      requests.push({ method, what });
      const t0 = Date.now();
      try {
        const out = await f();
        where.debug?.(`kubernetes ${method} ${what} → ok (${String(Date.now() - t0)} ms, attempt ${String(attempt)})`);
        return out;
      } catch (e) {
        where.debug?.(`kubernetes ${method} ${what} → ${String(codeOf(e) ?? (e instanceof Error ? e.message : 'error'))} (${String(Date.now() - t0)} ms, attempt ${String(attempt)})`);
        if (attempt >= ATTEMPTS || !transient(e)) throw e;
        await abortableSleep(250 * 2 ** attempt);
      }
    }
  }
  /** undefined on 404; every other failure a coded error. */
  async function read<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call('GET', what, f);
    } catch (e) {
      if (codeOf(e) === 404) return undefined;
      throw kubeError(e, `reading ${what}`, where, server);
    }
  }
  /** One watch of one object (by name) from resourceVersion; see KubeApi.watchJob. */
  async function watchOne(collection: string, kind: string, ns: string, name: string, resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    requests.push({ method: 'WATCH', what: `${kind.toLowerCase()} ${ns}/${name}` });
    where.debug?.(`kubernetes WATCH ${kind.toLowerCase()} ${ns}/${name} from resourceVersion ${resourceVersion}`);
    const watch = new Watch(kc);
    // client-node ends a watch after 30 s without data, while API servers send a bookmark about
    // once a minute: a quiet Job would be re-watched every 30 s. Its timer is a private field;
    // 5 minutes covers several bookmarks (a newer client-node without the field ignores this).
    if (Reflect.has(watch, 'requestTimeoutMs')) Reflect.set(watch, 'requestTimeoutMs', 5 * 60_000);
    await new Promise<void>((resolve, reject) => {
      let ctl: AbortController | undefined;
      // client-node hands out the watch's controller only once the response headers are in:
      // an abort before then ends ferry's wait at once, and the request when the controller comes.
      const stop = (): void => {
        ctl?.abort();
        resolve();
      };
      signal.addEventListener('abort', stop, { once: true });
      watch
        .watch(
          collection,
          { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: true },
          (type: string, object: Obj) => {
            onEvent({ type, object });
          },
          (err: unknown) => {
            signal.removeEventListener('abort', stop);
            // The stream ended: by the server, a timeout of client-node's idle timer, or our abort.
            // The caller resumes from the last resourceVersion; only a refused watch is an error.
            const code = (err as { statusCode?: number } | undefined)?.statusCode;
            if (code === 410) onEvent({ type: 'ERROR', object: { code: 410 } });
            else if (code === 401 || code === 403) reject(kubeError(new ApiException(code, 'watch refused', '', {}), `watching ${kind} ${ns}/${name}`, where, server));
            resolve();
          },
        )
        .then(
          (c) => {
            ctl = c;
            if (signal.aborted) c.abort();
          },
          (e: unknown) => {
            signal.removeEventListener('abort', stop);
            reject(kubeError(e, `watching ${kind} ${ns}/${name}`, where, server));
          },
        );
    });
  }

  const keysOf = (o: { data?: Record<string, unknown> | undefined; binaryData?: Record<string, unknown> | undefined }): string[] => [...Object.keys(o.data ?? {}), ...Object.keys(o.binaryData ?? {})];

  return {
    requests,
    async namespaceExists(ns) {
      try {
        await call('GET', `namespace ${ns}`, () => core.readNamespace({ name: ns }));
        return true;
      } catch (e) {
        if (codeOf(e) === 404) return false;
        if (codeOf(e) === 403) return undefined;
        throw kubeError(e, `reading namespace ${ns}`, where, server);
      }
    },
    async secretKeys(ns, name) {
      try {
        const s = await call('GET', `secret ${ns}/${name}`, () => core.readNamespacedSecret({ name, namespace: ns }));
        return keysOf(s);
      } catch (e) {
        if (codeOf(e) === 404) return undefined;
        if (codeOf(e) === 403) return 'forbidden';
        throw kubeError(e, `reading Secret ${ns}/${name}`, where, server);
      }
    },
    async configMapKeys(ns, name) {
      try {
        const c = await call('GET', `configmap ${ns}/${name}`, () => core.readNamespacedConfigMap({ name, namespace: ns }));
        return keysOf(c);
      } catch (e) {
        if (codeOf(e) === 404) return undefined;
        if (codeOf(e) === 403) return 'forbidden';
        throw kubeError(e, `reading ConfigMap ${ns}/${name}`, where, server);
      }
    },
    async readSecret(ns, name) {
      return (await read(`Secret ${ns}/${name}`, () => core.readNamespacedSecret({ name, namespace: ns }))) as Obj | undefined;
    },
    async createSecret(ns, body) {
      try {
        await call('POST', `secret ${ns}`, () => core.createNamespacedSecret({ namespace: ns, body: body }));
        return 'created';
      } catch (e) {
        if (codeOf(e) === 409) return 'exists';
        throw kubeError(e, `creating Secret ${ns}/${String((body['metadata'] as Obj | undefined)?.['name'])}`, where, server);
      }
    },
    async replaceSecret(ns, name, body) {
      try {
        await call('PUT', `secret ${ns}/${name}`, () => core.replaceNamespacedSecret({ name, namespace: ns, body: body }));
      } catch (e) {
        throw kubeError(e, `updating Secret ${ns}/${name}`, where, server);
      }
    },
    async createJob(ns, body) {
      try {
        return (await call('POST', `job ${ns}`, () => batch.createNamespacedJob({ namespace: ns, body: body }))) as unknown as Obj;
      } catch (e) {
        if (codeOf(e) === 409) return 'exists';
        throw kubeError(e, `creating Job ${ns}/${String((body['metadata'] as Obj | undefined)?.['name'])}`, where, server);
      }
    },
    async readJob(ns, name) {
      return (await read(`Job ${ns}/${name}`, () => batch.readNamespacedJob({ name, namespace: ns }))) as Obj | undefined;
    },
    async deleteJob(ns, name, uid) {
      try {
        // A plain delete orphans the Job's pods (they keep running): Background deletes them too.
        // The uid precondition makes the API server refuse to delete a newer Job of the same name.
        await call('DELETE', `job ${ns}/${name}`, () => batch.deleteNamespacedJob({ name, namespace: ns, propagationPolicy: 'Background', ...(uid !== undefined ? { body: onlyUid(uid) } : {}) }));
        return true;
      } catch (e) {
        if (codeOf(e) === 404 || (uid !== undefined && codeOf(e) === 409)) return false;
        throw kubeError(e, `deleting Job ${ns}/${name}`, where, server);
      }
    },
    async listPods(ns, labelSelector) {
      try {
        const list = await call('GET', `pods ${ns} ${labelSelector}`, () => core.listNamespacedPod({ namespace: ns, labelSelector }));
        return list.items as unknown as Obj[];
      } catch (e) {
        throw kubeError(e, `listing the pods of ${labelSelector} in ${ns}`, where, server);
      }
    },
    async readPod(ns, name) {
      return (await read(`Pod ${ns}/${name}`, () => core.readNamespacedPod({ name, namespace: ns }))) as Obj | undefined;
    },
    async listEvents(ns, fieldSelector) {
      try {
        const list = await call('GET', `events ${ns} ${fieldSelector}`, () => core.listNamespacedEvent({ namespace: ns, fieldSelector }));
        return list.items as unknown as Obj[];
      } catch (e) {
        // Events only explain a stuck run better: without the right to read them, ferry does without.
        if (codeOf(e) === 403) return [];
        throw kubeError(e, `listing the events of ${fieldSelector} in ${ns}`, where, server);
      }
    },
    async watchJob(ns, name, resourceVersion, onEvent, signal) {
      await watchOne(`/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs`, 'Job', ns, name, resourceVersion, onEvent, signal);
    },
    async apiResources(group, version) {
      try {
        const list = await call('GET', `api resources ${group}/${version}`, () => custom.getAPIResources({ group, version }));
        return list.resources.map((r) => r.name);
      } catch (e) {
        if (codeOf(e) === 404) return undefined;
        throw kubeError(e, `reading the API resources of ${group}/${version}`, where, server);
      }
    },
    async createCustom(kind, ns, body, opts) {
      try {
        const dryRun = opts?.dryRun === true ? { dryRun: 'All' } : {};
        return (await call('POST', `${kind.kind.toLowerCase()} ${ns}${opts?.dryRun === true ? ' (dry run)' : ''}`, () => custom.createNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace: ns, body, ...dryRun }))) as Obj;
      } catch (e) {
        if (codeOf(e) === 409) return 'exists';
        throw kubeError(e, `creating ${kind.kind} ${ns}/${String((body['metadata'] as Obj | undefined)?.['name'])}`, where, server);
      }
    },
    async readCustom(kind, ns, name) {
      return (await read(`${kind.kind} ${ns}/${name}`, () => custom.getNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace: ns, name }))) as Obj | undefined;
    },
    async deleteCustom(kind, ns, name, uid) {
      try {
        await call('DELETE', `${kind.kind.toLowerCase()} ${ns}/${name}`, () =>
          custom.deleteNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace: ns, name, propagationPolicy: 'Background', ...(uid !== undefined ? { body: onlyUid(uid) } : {}) }),
        );
        return true;
      } catch (e) {
        if (codeOf(e) === 404 || (uid !== undefined && codeOf(e) === 409)) return false;
        throw kubeError(e, `deleting ${kind.kind} ${ns}/${name}`, where, server);
      }
    },
    async deletePod(ns, name) {
      try {
        await call('DELETE', `pod ${ns}/${name}`, () => core.deleteNamespacedPod({ name, namespace: ns, propagationPolicy: 'Background' }));
        return true;
      } catch (e) {
        if (codeOf(e) === 404) return false;
        throw kubeError(e, `deleting pod ${ns}/${name}`, where, server);
      }
    },
    async watchCustom(kind, ns, name, resourceVersion, onEvent, signal) {
      await watchOne(`/apis/${kind.group}/${kind.version}/namespaces/${encodeURIComponent(ns)}/${kind.plural}`, kind.kind, ns, name, resourceVersion, onEvent, signal);
    },
    async podLog(ns, pod, container, out, opts) {
      requests.push({ method: 'GET', what: `log ${ns}/${pod}` });
      where.debug?.(`kubernetes GET log ${ns}/${pod}${opts.follow ? ' (follow)' : ''}`);
      const log = new Log(kc);
      await new Promise<void>((resolve, reject) => {
        // client-node ends its writable when the server closes the stream.
        const sink = new Writable({
          write(chunk: Buffer, _enc, cb) {
            out.write(chunk);
            cb();
          },
          final(cb) {
            cb();
            resolve();
          },
        });
        sink.on('error', reject);
        // client-node pipes the response body into the sink and keeps no error handler on the
        // body: aborting it (Ctrl-C, deploy done) would throw an unhandled AbortError. The sink
        // is told its source, so ferry handles that error itself.
        sink.on('pipe', (source: NodeJS.ReadableStream) => {
          source.on('error', (e: unknown) => {
            if (opts.signal?.aborted === true) resolve();
            else reject(kubeError(e, `reading the log of pod ${ns}/${pod}`, where, server));
          });
        });
        log
          .log(ns, pod, container, sink, { follow: opts.follow, ...(opts.timestamps === true ? { timestamps: true } : {}), ...(opts.sinceTime !== undefined ? { sinceTime: opts.sinceTime } : {}) })
          .then((ctl) => {
            if (opts.signal?.aborted === true) ctl.abort();
            opts.signal?.addEventListener(
              'abort',
              () => {
                ctl.abort();
                resolve();
              },
              { once: true },
            );
          })
          .catch((e: unknown) => {
            if (codeOf(e) === 400 || codeOf(e) === 404) {
              // The container has not started (400) or the pod is gone (404): no log to read.
              resolve();
              return;
            }
            reject(kubeError(e, `reading the log of pod ${ns}/${pod}`, where, server));
          });
      });
    },
  };
}
