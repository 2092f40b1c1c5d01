/**
 * A Job and its pods as a ferry run status: pure functions over the API's objects, so the rules
 * are unit-tested without a server. The Job's conditions say whether it ended; its pods say why a
 * run is stuck (ImagePullBackOff, Unschedulable, a missing Secret key) and with which exit code
 * and reason (OOMKilled) a container ended.
 */
import type { FailedChild, RunState, RunStatus } from '../../core/target.js';
import { CONTAINER, type Obj } from './manifest.js';

export const INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';
/** Set by the Job controller on its pods since 1.27 (ferry needs 1.27 or later). */
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
/** The owning Job's uid, on its pods since 1.27: tells a Job's pods from a same-named earlier Job's. */
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}
interface JobStatus {
  conditions?: Condition[];
  active?: number;
  ready?: number;
  succeeded?: number;
  failed?: number;
  failedIndexes?: string;
  completedIndexes?: string;
}
interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string; finishedAt?: string };
}
export interface PodView {
  name: string;
  created: string;
  phase: string;
  index?: number;
  state?: ContainerState;
  /** PodScheduled False with reason Unschedulable: the scheduler's message. */
  unschedulable?: string;
}

/** Waiting reasons that mean the run is stuck until someone acts: reported at once. */
export const STUCK_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'CrashLoopBackOff']);

export function podView(pod: Obj): PodView {
  const meta = (pod['metadata'] ?? {}) as { name?: string; creationTimestamp?: string | Date; annotations?: Record<string, string> };
  const status = (pod['status'] ?? {}) as { phase?: string; conditions?: Condition[]; containerStatuses?: { name?: string; state?: ContainerState }[] };
  const cs = status.containerStatuses?.find((c) => c.name === CONTAINER) ?? status.containerStatuses?.[0];
  const sched = status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
  const idx = meta.annotations?.[INDEX_ANNOTATION];
  // client-node turns times into Date objects; compare them as ISO strings.
  const iso = (t: unknown): string | undefined => (t instanceof Date ? t.toISOString() : typeof t === 'string' ? new Date(t).toISOString() : undefined);
  const state = cs?.state === undefined ? undefined : { ...cs.state };
  const fin = iso(state?.terminated?.finishedAt);
  if (state?.terminated !== undefined && fin !== undefined) state.terminated = { ...state.terminated, finishedAt: fin };
  return {
    name: meta.name ?? '',
    created: iso(meta.creationTimestamp) ?? '',
    phase: status.phase ?? 'Pending',
    ...(idx !== undefined && /^\d+$/.test(idx) ? { index: Number(idx) } : {}),
    ...(state !== undefined ? { state } : {}),
    ...(sched !== undefined ? { unschedulable: sched.message ?? 'no node fits the pod' } : {}),
  };
}

/**
 * Oldest first (the order of the attempts). Kubernetes stamps creation to the second, so within
 * one second a pod that has ended comes before one that has not, and the earlier end first.
 */
export function byCreation(pods: PodView[]): PodView[] {
  const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  const end = (p: PodView): string => p.state?.terminated?.finishedAt ?? '\uffff';
  return [...pods].sort((a, b) => cmp(a.created, b.created) || cmp(end(a), end(b)) || cmp(a.name, b.name));
}

function count(indexes: string | undefined): number {
  if (indexes === undefined || indexes === '') return 0;
  let n = 0;
  for (const part of indexes.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    n += b === undefined || Number.isNaN(b) ? 1 : b - a + 1;
  }
  return n;
}

/** Why a pod is stuck, or undefined. */
export function stuckReason(p: PodView): { phase: string; reason: string } | undefined {
  if (p.unschedulable !== undefined) return { phase: 'Unschedulable', reason: `pod ${p.name} cannot be scheduled: ${p.unschedulable}` };
  const w = p.state?.waiting;
  if (w?.reason !== undefined && STUCK_REASONS.has(w.reason)) return { phase: w.reason, reason: `pod ${p.name}: ${w.reason}${w.message !== undefined ? `: ${w.message}` : ''}` };
  return undefined;
}

function jobStatusOf(job: Obj): { status: JobStatus; indexed: boolean; completions: number } {
  const spec = (job['spec'] ?? {}) as { completionMode?: string; completions?: number };
  const indexed = spec.completionMode === 'Indexed' && (spec.completions ?? 1) > 1;
  return { status: (job['status'] ?? {}), indexed, completions: spec.completions ?? 1 };
}

function cond(s: JobStatus, type: string): Condition | undefined {
  return s.conditions?.find((c) => c.type === type && c.status === 'True');
}

/** Has the Job ended (Complete or Failed)? */
export function jobEnded(job: Obj): boolean {
  const { status } = jobStatusOf(job);
  return cond(status, 'Complete') !== undefined || cond(status, 'Failed') !== undefined;
}

/** client-node gives Dates, a plain read gives RFC 3339 strings. */
const timeOf = (t: string | Date | undefined): number => (t instanceof Date ? t.getTime() : t === undefined ? 0 : Date.parse(t) || 0);

/** The field selector for the Job controller's FailedCreate Events about one Job. */
export function createFailureSelector(name: string, uid: string | undefined): string {
  return `involvedObject.kind=Job,involvedObject.name=${name}${uid !== undefined && uid !== '' ? `,involvedObject.uid=${uid}` : ''},reason=FailedCreate`;
}

/**
 * A Job with no pod at all ("Created") whose controller could not create one (PodSecurity
 * admission, a ResourceQuota, a missing service account) says so only in its FailedCreate
 * Events: the newest one's message becomes the status's reason. The Job itself stays active and
 * fails only at its deadline, as on the cluster.
 */
export function withCreateFailure(s: RunStatus, events: Obj[]): RunStatus {
  if (s.phase !== 'Created') return s;
  const newest = events
    .map((e) => e as { reason?: string; message?: string; lastTimestamp?: string | Date; eventTime?: string | Date })
    .filter((e) => e.reason === 'FailedCreate' && e.message !== undefined)
    .sort((a, b) => timeOf(a.lastTimestamp ?? a.eventTime) - timeOf(b.lastTimestamp ?? b.eventTime))
    .at(-1);
  return newest === undefined ? s : { state: 'pending', phase: 'FailedCreate', reason: newest.message ?? 'FailedCreate' };
}

/**
 * The run's status from the Job, refined by its pods when given (exit code, OOMKilled, stuck
 * reasons). `pods` may be undefined: the Job alone then decides the state.
 */
export function runStatusOf(job: Obj, pods?: PodView[]): RunStatus {
  const { status, indexed, completions } = jobStatusOf(job);
  const sorted = pods === undefined ? [] : byCreation(pods);
  const complete = cond(status, 'Complete');
  const failed = cond(status, 'Failed');
  let out: RunStatus;
  if (complete !== undefined) out = { state: 'succeeded', phase: 'Complete', exitCode: 0 };
  else if (failed !== undefined) {
    out = { state: 'failed', phase: failed.reason ?? 'Failed', reason: `${failed.reason ?? 'Failed'}${failed.message !== undefined ? `: ${failed.message}` : ''}` };
    const last = [...sorted].reverse().find((p) => p.state?.terminated !== undefined && p.state.terminated.exitCode !== 0);
    const t = last?.state?.terminated;
    if (t?.exitCode !== undefined) out.exitCode = t.exitCode;
    if (t?.reason === 'OOMKilled') out.reason = `OOMKilled: pod ${last?.name ?? ''} ran out of memory (exit code ${String(t.exitCode ?? 137)}); ${out.reason ?? ''}`;
  } else if (cond(status, 'Suspended') !== undefined) out = { state: 'pending', phase: 'Suspended' };
  else if ((status.ready ?? 0) > 0) out = { state: 'running', phase: 'Running' };
  else if ((status.active ?? 0) > 0) out = { state: 'pending', phase: 'Pending' };
  else if ((status.succeeded ?? 0) + (status.failed ?? 0) > 0) out = { state: 'running', phase: 'Running' };
  else out = { state: 'pending', phase: 'Created' };

  if (out.state === 'pending' || out.state === 'running') {
    // A stuck pod is the news a user needs, even while the Job itself still counts as active.
    const stuck = sorted.map(stuckReason).find((r) => r !== undefined);
    if (stuck !== undefined) {
      out.phase = stuck.phase;
      out.reason = stuck.reason;
    } else {
      const retried = [...sorted].reverse().find((p) => p.state?.terminated !== undefined && p.state.terminated.exitCode !== 0);
      const t = retried?.state?.terminated;
      if (t !== undefined && !indexed) out.reason = `a pod failed (${t.reason ?? 'Error'}, exit code ${String(t.exitCode ?? '?')}); retrying`;
    }
  }
  if (indexed) {
    const succeeded = status.succeeded ?? count(status.completedIndexes);
    const failedN = count(status.failedIndexes);
    const running = status.ready ?? 0;
    const children: Partial<Record<RunState, number>> = {};
    if (succeeded > 0) children.succeeded = succeeded;
    if (failedN > 0) children.failed = failedN;
    if (running > 0) children.running = running;
    const pending = completions - succeeded - failedN - running;
    if (pending > 0 && out.state !== 'succeeded' && out.state !== 'failed') children.pending = pending;
    out.children = children;
    if (out.state === 'failed') {
      const failedPods: FailedChild[] = [];
      const seen = new Set<number>();
      for (const p of [...sorted].reverse()) {
        const t = p.state?.terminated;
        if (p.index === undefined || seen.has(p.index) || t === undefined || t.exitCode === 0) continue;
        seen.add(p.index);
        failedPods.push({ index: p.index, ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}), ...(t.reason !== undefined ? { reason: t.reason } : {}) });
      }
      if (failedPods.length > 0) out.failedChildren = failedPods.sort((a, b) => a.index - b.index).slice(0, 5);
      // The parent's exit code is 1: the children's own are in failedChildren.
      delete out.exitCode;
    }
  }
  return out;
}
