// A simple Job controller, after kube-controller-manager's: creates pods from the template (named
// <job>-<random5>, or <job>-<index>-<random5> for Indexed jobs, with the labels the real one sets),
// replaces failed pods until backoffLimit (or, for Indexed Jobs, backoffLimitPerIndex), enforces activeDeadlineSeconds, and keeps the Job's status
// (active/ready/succeeded/failed, completedIndexes, conditions) as 1.31+ reports it.
import type { IJobCondition } from 'kubernetes-models/batch/v1/JobCondition';
import type { Store, StoreEvent, StoredJob, StoredPod } from './store.js';

const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789'; // k8s.io/apimachinery's utilrand alphabet
const rand5 = (): string => Array.from({ length: 5 }, () => ALPHANUMS[Math.floor(Math.random() * ALPHANUMS.length)]).join('');
const stamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const INDEX_KEY = 'batch.kubernetes.io/job-completion-index';

interface JobState {
  counted: Set<string>; // pod uids already counted as succeeded or failed
  succeeded: number;
  failed: number;
  succeededIndexes: Set<number>;
  /** backoffLimitPerIndex: failures per index, and the indexes that used up their retries. */
  failuresPerIndex: Map<number, number>;
  failedIndexes: Set<number>;
  deadline?: NodeJS.Timeout;
  finished: boolean;
}

/** "0-2,4" as the Job status writes completedIndexes. */
function formatIndexes(set: Set<number>): string {
  const sorted = [...set].sort((a, b) => a - b);
  const out: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i] ?? 0;
    let end = start;
    while (sorted[i + 1] === end + 1) {
      end++;
      i++;
    }
    out.push(start === end ? `${start}` : `${start}-${end}`);
    i++;
  }
  return out.join(',');
}

export class JobController {
  private readonly jobs = new Map<string, JobState>();
  /** Jobs whose pods the API refuses (admission: PodSecurity, a quota): Job name or RegExp → why. */
  private readonly refusals: { matcher: string | RegExp; message: string }[] = [];
  private readonly listener = (ev: StoreEvent): void => {
    // After the write that caused it, as a controller reacts to an informer event.
    setImmediate(() => {
      this.onEvent(ev);
    });
  };

  constructor(
    private readonly store: Store,
    private readonly secondMs: number,
  ) {
    store.events.on('event', this.listener);
  }

  refusePods(matcher: string | RegExp, message: string): void {
    this.refusals.unshift({ matcher, message });
  }

  stop(): void {
    this.store.events.off('event', this.listener);
    for (const s of this.jobs.values()) clearTimeout(s.deadline);
  }

  private onEvent(ev: StoreEvent): void {
    const ns = ev.object.metadata.namespace;
    if (ev.resource === 'jobs') {
      const k = `${ns ?? ''}/${ev.object.metadata.name}`;
      if (ev.type === 'ADDED') {
        this.jobs.set(k, { counted: new Set(), succeeded: 0, failed: 0, succeededIndexes: new Set(), failuresPerIndex: new Map(), failedIndexes: new Set(), finished: false });
        this.start(ev.object as unknown as StoredJob);
      } else if (ev.type === 'DELETED') {
        clearTimeout(this.jobs.get(k)?.deadline);
        this.jobs.delete(k);
      }
    } else if (ev.resource === 'pods' && ev.type !== 'ADDED') {
      const owner = ev.object.metadata.ownerReferences?.find((o) => o.kind === 'Job' && o.controller);
      if (owner) this.reconcile(ns, owner.name);
    }
  }

  private start(job: StoredJob): void {
    if (job.spec?.suspend) return;
    const k = `${job.metadata.namespace ?? ''}/${job.metadata.name}`;
    const state = this.jobs.get(k);
    if (!state) return;
    this.store.mutate('jobs', job.metadata.namespace, job.metadata.name, (o) => {
      const j = o as unknown as StoredJob;
      j.status = { ...j.status, startTime: stamp() };
    });
    const deadline = job.spec?.activeDeadlineSeconds;
    if (deadline !== undefined) {
      state.deadline = setTimeout(() => {
        this.finish(job.metadata.namespace, job.metadata.name, 'Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline');
      }, deadline * this.secondMs);
    }
    this.reconcile(job.metadata.namespace, job.metadata.name);
  }

  private pods(job: StoredJob): StoredPod[] {
    return this.store.list('pods', job.metadata.namespace, (p) =>
      (p.metadata.ownerReferences ?? []).some((o) => o.uid === job.metadata.uid),
    ) as unknown as StoredPod[];
  }

  private reconcile(namespace: string | undefined, name: string): void {
    const k = `${namespace ?? ''}/${name}`;
    const state = this.jobs.get(k);
    const job = this.store.get('jobs', namespace, name) as unknown as StoredJob | undefined;
    if (!state || !job || state.finished || job.metadata.deletionTimestamp || job.spec?.suspend) return;
    const spec = job.spec;
    if (!spec) return;
    const indexed = spec.completionMode === 'Indexed';
    const completions = spec.completions ?? 1;
    const parallelism = spec.parallelism ?? 1;
    const perIndex = indexed ? spec.backoffLimitPerIndex : undefined;
    // With backoffLimitPerIndex the Job-wide limit defaults to unlimited (the API's MaxInt32).
    const backoffLimit = spec.backoffLimit ?? (perIndex !== undefined ? Number.MAX_SAFE_INTEGER : 6);

    const pods = this.pods(job);
    for (const p of pods) {
      const phase = p.status?.phase;
      if ((phase !== 'Succeeded' && phase !== 'Failed') || state.counted.has(p.metadata.uid)) continue;
      state.counted.add(p.metadata.uid);
      if (phase === 'Succeeded') {
        state.succeeded++;
        const idx = p.metadata.annotations?.[INDEX_KEY];
        if (idx !== undefined) state.succeededIndexes.add(Number(idx));
      } else {
        state.failed++;
        const idx = p.metadata.annotations?.[INDEX_KEY];
        if (perIndex !== undefined && idx !== undefined) {
          const n = (state.failuresPerIndex.get(Number(idx)) ?? 0) + 1;
          state.failuresPerIndex.set(Number(idx), n);
          if (n > perIndex) state.failedIndexes.add(Number(idx));
        }
      }
    }
    const active = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !p.metadata.deletionTimestamp);

    if (state.failed > backoffLimit) {
      this.finish(namespace, name, 'Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
      return;
    }
    if (perIndex !== undefined && state.failedIndexes.size > 0 && state.succeededIndexes.size + state.failedIndexes.size >= completions) {
      this.finish(namespace, name, 'Failed', 'FailedIndexes', 'Job has failed indexes');
      return;
    }
    const done = indexed ? state.succeededIndexes.size >= completions : state.succeeded >= completions;
    if (done) {
      this.finish(namespace, name, 'Complete', 'CompletionsReached', 'Reached expected number of succeeded pods');
      return;
    }

    const toCreate: (number | undefined)[] = [];
    if (indexed) {
      const busy = new Set(active.map((p) => Number(p.metadata.annotations?.[INDEX_KEY])));
      for (let i = 0; i < completions && active.length + toCreate.length < parallelism; i++) {
        if (!state.succeededIndexes.has(i) && !state.failedIndexes.has(i) && !busy.has(i)) toCreate.push(i);
      }
    } else {
      const want = Math.min(parallelism, completions - state.succeeded);
      for (let i = active.length; i < want; i++) toCreate.push(undefined);
    }
    const created = toCreate.filter((index) => this.createPod(job, index)).length;

    this.store.mutate('jobs', namespace, name, (o) => {
      const j = o as unknown as StoredJob;
      j.status = {
        ...j.status,
        active: active.length + created,
        ready: active.filter((p) => p.status?.phase === 'Running').length,
        succeeded: state.succeeded,
        failed: state.failed,
        terminating: 0,
        ...(indexed ? { completedIndexes: formatIndexes(state.succeededIndexes) } : {}),
        ...(perIndex !== undefined ? { failedIndexes: formatIndexes(state.failedIndexes) } : {}),
        uncountedTerminatedPods: {},
      };
    });
  }

  /** Creates one pod of the Job; false (and a FailedCreate Event, as the real controller records) when refused. */
  private createPod(job: StoredJob, index: number | undefined): boolean {
    const name = job.metadata.name;
    const uid = job.metadata.uid;
    const refusal = this.refusals.find((r) => (typeof r.matcher === 'string' ? r.matcher === name : r.matcher.test(name)));
    if (refusal !== undefined) {
      const ns = job.metadata.namespace ?? 'default';
      const now = stamp();
      this.store.create('events', {
        metadata: { name: `${name}.${rand5()}${rand5()}`, namespace: ns },
        involvedObject: { kind: 'Job', namespace: ns, name, uid, apiVersion: 'batch/v1', resourceVersion: job.metadata.resourceVersion },
        reason: 'FailedCreate',
        message: `Error creating: pods "${name}-${rand5()}" is forbidden: ${refusal.message}`,
        source: { component: 'job-controller' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        type: 'Warning',
        reportingComponent: 'job-controller',
        reportingInstance: '',
      });
      return false;
    }
    const template = structuredClone(job.spec?.template);
    const idx = index === undefined ? undefined : String(index);
    const labels: Record<string, string> = {
      ...(template?.metadata?.labels ?? {}),
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
      ...(idx !== undefined ? { [INDEX_KEY]: idx } : {}),
    };
    const annotations: Record<string, string> = {
      ...(template?.metadata?.annotations ?? {}),
      ...(idx !== undefined ? { [INDEX_KEY]: idx } : {}),
    };
    const podSpec = template?.spec ?? { containers: [] };
    if (idx !== undefined) {
      // The real controller injects the index through the downward API and sets the hostname.
      for (const c of podSpec.containers) {
        c.env = [
          ...(c.env ?? []),
          { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.labels['${INDEX_KEY}']` } } },
        ];
      }
      podSpec.hostname = `${name}-${idx}`;
    }
    const podName = idx !== undefined ? `${name}-${idx}-${rand5()}` : `${name}-${rand5()}`;
    this.store.create('pods', {
      metadata: {
        name: podName,
        generateName: idx !== undefined ? `${name}-${idx}-` : `${name}-`,
        namespace: job.metadata.namespace ?? 'default',
        labels,
        annotations,
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true }],
        finalizers: ['batch.kubernetes.io/job-tracking'],
      },
      spec: podSpec,
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    });
    return true;
  }

  private finish(namespace: string | undefined, name: string, type: 'Complete' | 'Failed', reason: string, message: string): void {
    const state = this.jobs.get(`${namespace ?? ''}/${name}`);
    const job = this.store.get('jobs', namespace, name) as unknown as StoredJob | undefined;
    if (!state || !job || state.finished) return;
    state.finished = true;
    clearTimeout(state.deadline);
    if (type === 'Failed') {
      // The real controller deletes the still active pods of a failed Job.
      for (const p of this.pods(job)) {
        const phase = p.status?.phase;
        if (phase !== 'Succeeded' && phase !== 'Failed') this.store.remove('pods', namespace, p.metadata.name);
      }
    }
    const now = stamp();
    const cond = (t: string): IJobCondition => ({ type: t, status: 'True', reason, message, lastProbeTime: now, lastTransitionTime: now });
    this.store.mutate('jobs', namespace, name, (o) => {
      const j = o as unknown as StoredJob;
      j.status = {
        ...j.status,
        active: 0,
        ready: 0,
        succeeded: state.succeeded,
        failed: state.failed,
        ...(j.spec?.completionMode === 'Indexed' ? { completedIndexes: formatIndexes(state.succeededIndexes) } : {}),
        ...(j.spec?.completionMode === 'Indexed' && j.spec.backoffLimitPerIndex !== undefined ? { failedIndexes: formatIndexes(state.failedIndexes) } : {}),
        ...(type === 'Complete' ? { completionTime: now } : {}),
        // 1.31+ first records the interim condition, then the terminal one.
        conditions: [...(j.status?.conditions ?? []), cond(type === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget'), cond(type)],
      };
    });
  }
}
