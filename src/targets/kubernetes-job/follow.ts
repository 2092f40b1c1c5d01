/**
 * Following one object (a Job, a SparkApplication) to its end with one watch: resumed from the
 * last resourceVersion when the server closes the stream, from a fresh read after 410 Gone, and
 * paced (1 s doubling to 30 s, reading the object each time) when watches fail at once, so that a
 * failing API server is neither hammered nor able to hide the end.
 */
import type { Obj, WatchEvent } from './client.js';

export interface FollowOptions {
  /** Job, SparkApplication; and its name: for --debug lines. */
  kind: string;
  name: string;
  /** The object as read before following. */
  first: Obj;
  read(): Promise<Obj | undefined>;
  watch(resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void>;
  ended(o: Obj): boolean;
  /** Each new state of the object: from the watch, or read again after 410 Gone or failing watches. */
  onObject(o: Obj): void;
  /** Runs beside each watch until its signal aborts: checks of what the object's status does not show (stuck pods). */
  beside?(signal: AbortSignal): Promise<void>;
  signal: AbortSignal | undefined;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  debug(line: string): void;
}

/**
 * How following ended: the object `ended`, ferry was `interrupted`, the object was `deleted` while
 * it ran (a DELETED event), or it `vanished` (a read found nothing).
 */
export interface FollowEnd {
  how: 'ended' | 'interrupted' | 'deleted' | 'vanished';
  last: Obj;
}

const WATCH_RETRY_FIRST_MS = 1000;
const WATCH_RETRY_MAX_MS = 30_000;

/** Not narrowed by TypeScript: the signal changes between awaits. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

export async function followObject(o: FollowOptions): Promise<FollowEnd> {
  // Changed by the watch callback between awaits: a holder.
  const w = { obj: o.first, events: 0, gone: false, expired: false };
  let failures = 0;
  while (!o.ended(w.obj) && !isAborted(o.signal)) {
    const rv = ((w.obj['metadata'] ?? {}) as { resourceVersion?: string }).resourceVersion ?? '0';
    const stop = new AbortController();
    const stopAll = o.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, o.signal]);
    const beside = o.beside?.(stopAll) ?? Promise.resolve();
    const onEvent = (e: WatchEvent): void => {
      if (e.type === 'ERROR') {
        // 410 Gone: the resourceVersion is too old to resume from; read the object again.
        w.expired = true;
        stop.abort();
        return;
      }
      const meta = (e.object['metadata'] ?? {}) as { resourceVersion?: string };
      if (e.type === 'BOOKMARK') {
        if (meta.resourceVersion !== undefined) w.obj = { ...w.obj, metadata: { ...(w.obj['metadata'] as Obj), resourceVersion: meta.resourceVersion } };
        return;
      }
      w.events += 1;
      if (e.type === 'DELETED') {
        // The deleted object carries its last status: one removed right after it ended (a TTL of
        // 0) ended; one removed while running was cancelled.
        if (o.ended(e.object)) {
          w.obj = e.object;
          o.onObject(w.obj);
        } else w.gone = true;
        stop.abort();
        return;
      }
      w.obj = e.object;
      o.onObject(w.obj);
      if (o.ended(w.obj)) stop.abort();
    };
    const eventsBefore = w.events;
    const startedAt = Date.now();
    try {
      await o.watch(rv, onEvent, stopAll);
    } finally {
      stop.abort();
      await beside;
    }
    o.debug(`watch of ${o.kind} ${o.name} ended after ${String(w.events - eventsBefore)} events${isAborted(o.signal) ? ' (interrupted)' : ''}`);
    if (w.gone) return { how: 'deleted', last: w.obj };
    // A watch that ends at once without an event is failing (5xx, 429, a dropped connection):
    // wait before the next one, longer each time, and read the object meanwhile so that its end
    // is seen even while watches keep failing.
    if (w.events === eventsBefore && Date.now() - startedAt < 5000 && !w.expired && !isAborted(o.signal)) {
      failures += 1;
      await o.sleep(Math.min(WATCH_RETRY_MAX_MS, WATCH_RETRY_FIRST_MS * 2 ** (failures - 1)), o.signal).catch(() => undefined);
      w.expired = true;
    } else failures = 0;
    // A stream the server closed resumes from the last resourceVersion seen; after a 410 Gone,
    // from a fresh read, which also catches what the gap missed.
    if (w.expired) {
      w.expired = false;
      const again = await o.read();
      if (again === undefined) return { how: 'vanished', last: w.obj };
      w.obj = again;
      o.onObject(w.obj);
    }
  }
  return { how: o.ended(w.obj) ? 'ended' : 'interrupted', last: w.obj };
}
