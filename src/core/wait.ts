/**
 * Waiting for a run by reading its status now and then, for adapters that cannot watch (or, for
 * one run of a kind that can, when that run has nothing to watch).
 */
import { abortableSleep } from '../infra/sleep.js';
import type { RunState, RunStatus } from './target.js';

export interface WaitOptions {
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal | undefined;
  /** First poll interval, doubled by half each poll up to maxMs. */
  firstMs?: number;
  maxMs?: number;
  onChange?: (s: RunStatus) => void;
}

export const TERMINAL: readonly RunState[] = ['succeeded', 'failed', 'cancelled'];

/** Polls `status` with backoff until the run ends; reports each change of state or phase. */
export async function waitForRun(status: () => Promise<RunStatus>, opts: WaitOptions = {}): Promise<RunStatus> {
  const sleep = opts.sleep ?? ((ms: number) => abortableSleep(ms, opts.signal));
  const max = opts.maxMs ?? 15_000;
  let delay = opts.firstMs ?? 1000;
  let last = '';
  for (;;) {
    const s = await status();
    const key = `${s.state}/${s.phase ?? ''}/${JSON.stringify(s.children ?? {})}`;
    if (key !== last) opts.onChange?.(s);
    last = key;
    if (TERMINAL.includes(s.state)) return s;
    if (opts.signal?.aborted === true) return s;
    await sleep(delay);
    delay = Math.min(max, Math.ceil(delay * 1.5));
  }
}

