// Wire-level pieces of the Kubernetes API the fake needs: Status objects, label and field selectors,
// and the patch formats the client sends.
import type { KubeObject, Resource } from './store.js';
import { RESOURCES, qualifiedResource } from './store.js';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

export function status(code: number, reason: string | undefined, message: string | undefined, details?: Status['details']): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code < 400 ? 'Success' : 'Failure',
    ...(message !== undefined ? { message } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(details ? { details } : {}),
    code,
  };
}

export function notFound(resource: Resource, name: string): Status {
  return status(404, 'NotFound', `${qualifiedResource(resource)} "${name}" not found`, {
    name,
    group: RESOURCES[resource].group,
    kind: resource,
  });
}

export function alreadyExists(resource: Resource, name: string): Status {
  return status(409, 'AlreadyExists', `${qualifiedResource(resource)} "${name}" already exists`, {
    name,
    group: RESOURCES[resource].group,
    kind: resource,
  });
}

export function conflict(resource: Resource, name: string): Status {
  return status(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: RESOURCES[resource].group, kind: resource },
  );
}

export function invalid(resource: Resource, name: string, causes: StatusCause[]): Status {
  const info = RESOURCES[resource];
  const kind = info.group ? `${info.kind}.${info.group}` : info.kind;
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const joined = list.length === 1 ? (list[0] ?? '') : `[${list.join(', ')}]`;
  return status(422, 'Invalid', `${kind} "${name}" is invalid: ${joined}`, {
    name,
    group: info.group,
    kind: info.kind,
    causes,
  });
}

export function expired(rv: number, current: number): Status {
  return status(410, 'Expired', `too old resource version: ${rv} (${current})`);
}

// ---- selectors ----

type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'absent' };

/** Splits on commas outside parentheses: `a in (x,y),b=c`. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((t) => t.trim()).filter(Boolean);
}

export class SelectorError extends Error {}

export function parseLabelSelector(s: string | undefined): Requirement[] {
  if (!s) return [];
  return splitTerms(s).map((term): Requirement => {
    let m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(term);
    if (m?.[1] !== undefined && m[2] !== undefined && m[3] !== undefined) {
      return { key: m[1], op: m[2] === '!=' ? 'neq' : 'eq', value: m[3] };
    }
    m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (m?.[1] !== undefined && m[2] !== undefined && m[3] !== undefined) {
      return { key: m[1], op: m[2] === 'in' ? 'in' : 'notin', values: m[3].split(',').map((v) => v.trim()) };
    }
    m = /^(!?)([A-Za-z0-9_./-]+)$/.exec(term);
    if (m?.[2] !== undefined) return { key: m[2], op: m[1] === '!' ? 'absent' : 'exists' };
    throw new SelectorError(`unable to parse requirement: ${term}`);
  });
}

export function matchesLabels(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const v = l[r.key];
    switch (r.op) {
      case 'eq':
        return v === r.value;
      case 'neq':
        return v !== r.value;
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
      case 'exists':
        return v !== undefined;
      case 'absent':
        return v === undefined;
    }
  });
}

/** Field selectors the real server supports for our resources: metadata.name/namespace, status.phase. */
export function fieldMatcher(s: string | undefined): (o: KubeObject) => boolean {
  if (!s) return () => true;
  const terms = splitTerms(s).map((term) => {
    const m = /^([a-zA-Z.]+)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (!m?.[1] || m[2] === undefined || m[3] === undefined) throw new SelectorError(`invalid field selector: ${term}`);
    const path = m[1];
    const neg = m[2] === '!=';
    const want = m[3];
    const get = (o: KubeObject): unknown => {
      if (path === 'metadata.name') return o.metadata.name;
      if (path === 'metadata.namespace') return o.metadata.namespace;
      if (path === 'status.phase') return (o.status as { phase?: string } | undefined)?.phase;
      // Events: the fields the real server indexes for them.
      const ev = o as { involvedObject?: Record<string, string>; reason?: string; type?: string };
      if (path.startsWith('involvedObject.')) return ev.involvedObject?.[path.slice('involvedObject.'.length)];
      if (path === 'reason') return ev.reason;
      if (path === 'type') return ev.type;
      throw new SelectorError(`field label not supported: ${path}`);
    };
    return (o: KubeObject) => (get(o) === want) !== neg;
  });
  return (o) => terms.every((t) => t(o));
}

// ---- patches ----

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch; also used for strategic merge patch, which is the same for maps. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
}

/** RFC 6902 JSON patch (add, replace, remove, test). */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new SelectorError('json patch must be an array');
  const doc = structuredClone(target);
  for (const raw of ops as JsonPatchOp[]) {
    const parts = raw.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw new SelectorError(`bad json patch path ${raw.path}`);
    let parent: unknown = doc;
    for (const p of parts) {
      if (Array.isArray(parent)) parent = parent[Number(p)];
      else if (isPlainObject(parent)) parent = parent[p];
      else throw new SelectorError(`json patch path not found: ${raw.path}`);
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (raw.op === 'add') parent.splice(i, 0, raw.value);
      else if (raw.op === 'replace') parent[i] = raw.value;
      else if (raw.op === 'remove') parent.splice(i, 1);
      else if (raw.op === 'test') {
        if (JSON.stringify(parent[i]) !== JSON.stringify(raw.value)) throw new SelectorError(`json patch test failed at ${raw.path}`);
      } else throw new SelectorError(`json patch op not supported: ${raw.op}`);
    } else if (isPlainObject(parent)) {
      if (raw.op === 'add' || raw.op === 'replace') parent[last] = raw.value;
      else if (raw.op === 'remove') Reflect.deleteProperty(parent, last);
      else if (raw.op === 'test') {
        if (JSON.stringify(parent[last]) !== JSON.stringify(raw.value)) throw new SelectorError(`json patch test failed at ${raw.path}`);
      } else throw new SelectorError(`json patch op not supported: ${raw.op}`);
    } else throw new SelectorError(`json patch path not found: ${raw.path}`);
  }
  return doc;
}
