// A pretend kubelet: runs every pod the store holds through Pending → Running → Succeeded/Failed per
// the script a test gave for it, keeping each container's log so the log endpoint can stream it.
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IContainerStatus } from 'kubernetes-models/v1/ContainerStatus';
import type { KubeObject, Store, StoreEvent, StoredPod } from './store.js';

export interface PodScript {
  /** Log lines each container prints while running (or per container name). */
  logs?: string[] | Record<string, string[]>;
  /** Exit code of every container; 0 (default) succeeds. */
  exitCode?: number;
  /** terminated.reason; defaults to Completed (0) or Error (non-zero). E.g. 'OOMKilled'. */
  reason?: string;
  /** Time from creation to scheduled, and from scheduled to Running (ms). */
  pendingMs?: number;
  /** Time between log lines (ms). */
  lineDelayMs?: number;
  /** Time Running after the last log line before the containers exit (ms). */
  delayMs?: number;
  /** The image pull fails: the pod stays Pending, waiting ErrImagePull then ImagePullBackOff. */
  imagePull?: 'ErrImagePull' | 'ImagePullBackOff';
  /** The pod is never scheduled: PodScheduled False, reason Unschedulable, with this message. */
  unschedulable?: string;
  /** Keep running until deleted (or the Job's deadline). */
  hang?: boolean;
}

export interface PodContext {
  pod: StoredPod;
  /** The owning Job's name, if any. */
  jobName: string | undefined;
  /** batch.kubernetes.io/job-completion-index, for Indexed jobs. */
  index: number | undefined;
  /** How many pods of the same Job (and index) failed before this one. */
  attempt: number;
}

export type PodMatcher = string | RegExp | ((ctx: PodContext) => boolean);
export type ScriptSource = PodScript | ((ctx: PodContext) => PodScript);

export interface Timing {
  pendingMs: number;
  lineDelayMs: number;
  delayMs: number;
}

interface LogBuffer {
  lines: { time: string; text: string }[];
  done: boolean;
}

const stamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export class Kubelet {
  private readonly scripts: { matcher: PodMatcher; source: ScriptSource }[] = [];
  private readonly running = new Map<string, AbortController>();
  private readonly logs = new Map<string, LogBuffer>();
  private readonly failures = new Map<string, number>();
  /** Emits `log:<ns>/<pod>/<container>` when a line arrives or the container ends. */
  readonly logEvents = new EventEmitter();
  private readonly listener = (ev: StoreEvent): void => {
    this.onEvent(ev);
  };

  constructor(
    private readonly store: Store,
    private readonly timing: Timing,
    /** Real milliseconds per Kubernetes second (a pod's activeDeadlineSeconds). */
    private readonly secondMs = 1000,
  ) {
    this.logEvents.setMaxListeners(0);
    store.events.on('event', this.listener);
  }

  addScript(matcher: PodMatcher, source: ScriptSource): void {
    this.scripts.unshift({ matcher, source }); // the newest script wins
  }

  stop(): void {
    this.store.events.off('event', this.listener);
    for (const c of this.running.values()) c.abort();
    this.running.clear();
  }

  logBuffer(namespace: string, pod: string, container: string): LogBuffer | undefined {
    return this.logs.get(`${namespace}/${pod}/${container}`);
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.resource === 'jobs' && ev.type === 'ADDED') {
      // A Job created again under the same name starts counting its attempts afresh.
      const prefix = `${ev.object.metadata.namespace ?? ''}/${ev.object.metadata.name}/`;
      for (const k of this.failures.keys()) if (k.startsWith(prefix)) this.failures.delete(k);
    }
    if (ev.resource !== 'pods') return;
    const k = `${ev.object.metadata.namespace ?? ''}/${ev.object.metadata.name}`;
    if (ev.type === 'ADDED') {
      const ac = new AbortController();
      this.running.set(k, ac);
      const pod = ev.object as unknown as StoredPod;
      this.run(pod, ac.signal).catch((e: unknown) => {
        if (!ac.signal.aborted) throw e;
      });
    } else if (ev.type === 'DELETED') {
      this.running.get(k)?.abort();
      this.running.delete(k);
      for (const [lk, buf] of this.logs) {
        if (lk.startsWith(`${k}/`) && !buf.done) {
          buf.done = true;
          this.logEvents.emit(`log:${lk}`);
        }
      }
    }
  }

  private context(pod: StoredPod): PodContext {
    const jobName = pod.metadata.labels?.['batch.kubernetes.io/job-name'];
    const idx = pod.metadata.annotations?.['batch.kubernetes.io/job-completion-index'];
    const index = idx === undefined ? undefined : Number(idx);
    const attempt = jobName === undefined ? 0 : (this.failures.get(`${pod.metadata.namespace ?? ''}/${jobName}/${idx ?? ''}`) ?? 0);
    return { pod, jobName, index, attempt };
  }

  private scriptFor(ctx: PodContext): PodScript {
    for (const { matcher, source } of this.scripts) {
      const hit =
        typeof matcher === 'string'
          ? matcher === ctx.jobName || matcher === ctx.pod.metadata.name
          : matcher instanceof RegExp
            ? matcher.test(ctx.pod.metadata.name)
            : matcher(ctx);
      if (hit) return typeof source === 'function' ? source(ctx) : source;
    }
    return {};
  }

  private patch(pod: StoredPod, fn: (p: StoredPod) => void): void {
    this.store.mutate('pods', pod.metadata.namespace, pod.metadata.name, (o: KubeObject) => {
      fn(o as unknown as StoredPod);
    });
  }

  private async run(pod: StoredPod, signal: AbortSignal): Promise<void> {
    const ctx = this.context(pod);
    const script = this.scriptFor(ctx);
    const containers = (pod.spec?.containers ?? []).map((c) => c.name);
    const image = (name: string): string => pod.spec?.containers.find((c) => c.name === name)?.image ?? '';
    const pendingMs = script.pendingMs ?? this.timing.pendingMs;

    await sleep(pendingMs, undefined, { signal });
    if (script.unschedulable !== undefined) {
      const message = script.unschedulable;
      this.patch(pod, (p) => {
        p.status = {
          ...p.status,
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: stamp() }],
        };
      });
      return; // stays Pending until deleted
    }
    this.patch(pod, (p) => {
      p.spec = { ...p.spec, containers: p.spec?.containers ?? [], nodeName: 'fake-node-1' };
      p.status = {
        ...p.status,
        phase: 'Pending',
        hostIP: '10.0.0.1',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: stamp() }],
        containerStatuses: containers.map((name) => ({
          name,
          image: image(name),
          imageID: '',
          ready: false,
          started: false,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        })),
      };
    });

    await sleep(pendingMs, undefined, { signal });
    if (script.imagePull) {
      const reasons = script.imagePull === 'ErrImagePull' ? ['ErrImagePull', 'ImagePullBackOff'] : ['ImagePullBackOff'];
      for (const reason of reasons) {
        this.patch(pod, (p) => {
          for (const cs of p.status?.containerStatuses ?? []) {
            cs.state = {
              waiting: {
                reason,
                message:
                  reason === 'ErrImagePull'
                    ? `failed to pull and unpack image "${cs.image}": not found`
                    : `Back-off pulling image "${cs.image}"`,
              },
            };
          }
        });
        await sleep(pendingMs, undefined, { signal });
      }
      return; // stays Pending until deleted
    }

    const startedAt = stamp();
    for (const name of containers) this.logs.set(`${pod.metadata.namespace ?? ''}/${pod.metadata.name}/${name}`, { lines: [], done: false });
    this.patch(pod, (p) => {
      p.status = {
        ...p.status,
        phase: 'Running',
        startTime: startedAt,
        podIP: '10.1.0.2',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: startedAt },
          { type: 'Initialized', status: 'True', lastTransitionTime: startedAt },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: startedAt },
          { type: 'Ready', status: 'True', lastTransitionTime: startedAt },
        ],
        containerStatuses: containers.map(
          (name): IContainerStatus => ({
            name,
            image: image(name),
            imageID: `${image(name).split('@')[0] ?? ''}@sha256:${'0'.repeat(64)}`,
            containerID: `containerd://${pod.metadata.uid.replace(/-/g, '')}${name}`,
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt } },
          }),
        ),
      };
    });

    const linesFor = (name: string): string[] => {
      const l = script.logs;
      if (!l) return [];
      return Array.isArray(l) ? l : (l[name] ?? []);
    };
    const finish = (exitCode: number, reason: string, podEnd?: { reason: string; message: string }): void => {
      const finishedAt = stamp();
      if (exitCode !== 0 && ctx.jobName !== undefined) {
        const fk = `${pod.metadata.namespace ?? ''}/${ctx.jobName}/${ctx.index ?? ''}`;
        this.failures.set(fk, (this.failures.get(fk) ?? 0) + 1);
      }
      for (const name of containers) {
        const lk = `${pod.metadata.namespace ?? ''}/${pod.metadata.name}/${name}`;
        const buf = this.logs.get(lk);
        if (buf) buf.done = true;
        this.logEvents.emit(`log:${lk}`);
      }
      this.running.delete(`${pod.metadata.namespace ?? ''}/${pod.metadata.name}`);
      this.patch(pod, (p) => {
        p.status = {
          ...p.status,
          phase: exitCode === 0 ? 'Succeeded' : 'Failed',
          ...(podEnd ?? {}),
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: startedAt },
            { type: 'Initialized', status: 'True', lastTransitionTime: startedAt },
            { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: finishedAt },
            { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: finishedAt },
          ],
          containerStatuses: (p.status?.containerStatuses ?? []).map((cs) => ({
            ...cs,
            ready: false,
            started: false,
            state: { terminated: { exitCode, reason, startedAt, finishedAt, ...(cs.containerID ? { containerID: cs.containerID } : {}) } },
          })),
        };
      });
    };
    // A pod's activeDeadlineSeconds: the kubelet kills it when it has been active that long.
    const deadline = (pod.spec as { activeDeadlineSeconds?: number } | undefined)?.activeDeadlineSeconds;
    const overdue = new AbortController();
    const runSignal = AbortSignal.any([signal, overdue.signal]);
    const timer = deadline === undefined ? undefined : setTimeout(() => { overdue.abort(); }, deadline * this.secondMs);
    try {
      const longest = Math.max(0, ...containers.map((n) => linesFor(n).length));
      for (let i = 0; i < longest; i++) {
        await sleep(script.lineDelayMs ?? this.timing.lineDelayMs, undefined, { signal: runSignal });
        for (const name of containers) {
          const text = linesFor(name)[i];
          if (text === undefined) continue;
          const lk = `${pod.metadata.namespace ?? ''}/${pod.metadata.name}/${name}`;
          this.logs.get(lk)?.lines.push({ time: new Date().toISOString(), text });
          this.logEvents.emit(`log:${lk}`);
        }
      }
      if (script.hang) {
        await new Promise((_, reject) => {
          runSignal.addEventListener('abort', () => {
            reject(new Error('aborted'));
          });
        });
      }
      await sleep(script.delayMs ?? this.timing.delayMs, undefined, { signal: runSignal });
    } catch (e) {
      if (signal.aborted || !overdue.signal.aborted) throw e;
      finish(137, 'Error', { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
      return;
    } finally {
      clearTimeout(timer);
    }
    const exitCode = script.exitCode ?? 0;
    finish(exitCode, script.reason ?? (exitCode === 0 ? 'Completed' : 'Error'));
  }
}
