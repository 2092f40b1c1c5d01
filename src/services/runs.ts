/**
 * `ferry status`, `ferry logs` and `ferry cancel`: a run named by `--id` or `--last` is read back
 * from the handle store (infra/handles.ts), and its target kind's adapter asked about it. Nothing
 * here reads ferry.yaml: a handle says everything needed, so these work from any folder.
 */
import type { Writable } from 'node:stream';
import type { RunContext } from '../core/context.js';
import { FerryError, usageError } from '../core/errors.js';
import type { CancelOutcome, Handle, LogLine, RunStatus } from '../core/target.js';
import { HandleStore, type StoredHandle } from '../infra/handles.js';
import { loadRemoteAdapter, TARGET_KINDS, type RemoteAdapter, type RemoteTargetConfig } from '../targets/index.js';

export interface RunRef {
  id?: string | undefined;
  last?: boolean | undefined;
}

export interface StatusResult extends RunStatus {
  handle: Handle;
}

export interface LogsResult {
  handle: Handle;
  /** Lines read (under --json, the lines themselves are in `lines`). */
  count: number;
  lines?: LogLine[];
  /** SIGINT or SIGTERM when a signal ended a --follow (exit 130 or 143). */
  interrupted?: string;
}

export interface CancelResult extends CancelOutcome {
  handle: Handle;
}

async function resolveRun(ref: RunRef, ctx: RunContext): Promise<{ stored: StoredHandle; store: HandleStore }> {
  if ((ref.id === undefined) === (ref.last !== true)) {
    throw usageError('USAGE_RUN_REQUIRED', ref.id === undefined ? 'name the run: --id ID or --last' : '--id and --last name a run each: give one', {
      where: ref.id === undefined ? '--id' : '--last',
      suggestions: ['--id takes the id `ferry deploy` printed (or a platform id such as a Batch job id); --last is the newest run'],
    });
  }
  const store = HandleStore.fromEnv(ctx.env, ctx.cwd);
  const stored =
    ref.id !== undefined
      ? await store.find(ref.id)
      : await store.last((file, e) => {
          ctx.reporter.warn(`skipped ${file}: ${e instanceof Error ? e.message : String(e)}`);
        });
  return { stored, store };
}

async function adapterFor(h: Handle, verb: 'status' | 'logs' | 'cancel'): Promise<RemoteAdapter> {
  const kind = TARGET_KINDS.find((k) => k.type === h.type);
  if (kind === undefined || kind.type === 'local') {
    throw usageError('TARGET_VERB_UNSUPPORTED', `run ${h.id} is on a target of type ${h.type}, which this ferry cannot ${verb}`, {
      suggestions: ['use the ferry version that made the run', '`ferry targets` lists the kinds this ferry knows'],
    });
  }
  const adapter = await loadRemoteAdapter(kind.type as RemoteTargetConfig['type']);
  const has = verb === 'status' ? true : verb === 'logs' ? kind.capabilities.logs && adapter.logs !== undefined : kind.capabilities.cancel && adapter.cancel !== undefined;
  if (!has) {
    throw usageError('TARGET_VERB_UNSUPPORTED', `targets of type ${h.type} have no ${verb}`, {
      where: `run ${h.id}`,
      suggestions: ['`ferry targets` lists what each kind can do'],
    });
  }
  return adapter;
}

export async function statusService(ref: RunRef, ctx: RunContext): Promise<StatusResult> {
  const { stored, store } = await resolveRun(ref, ctx);
  const adapter = await adapterFor(stored.handle, 'status');
  const status = await adapter.status(stored.handle, ctx);
  await store.update(stored.handle, status);
  return { handle: stored.handle, ...status };
}

export async function logsService(ref: RunRef & { follow: boolean; index?: number | undefined; out?: Writable | undefined }, ctx: RunContext): Promise<LogsResult> {
  const { stored } = await resolveRun(ref, ctx);
  const adapter = await adapterFor(stored.handle, 'logs');
  if (adapter.logs === undefined) throw new FerryError('INTERNAL', 'adapterFor let a kind without logs through');
  const kept: LogLine[] = [];
  let count = 0;
  for await (const line of adapter.logs(stored.handle, { follow: ref.follow, index: ref.index }, ctx)) {
    count++;
    if (ref.out === undefined) kept.push(line);
    // A line the platform marks as stderr (a Spark driver's log4j output) stays off stdout.
    else (line.stream === 'stderr' ? process.stderr : ref.out).write(`${line.text}\n`);
  }
  return { handle: stored.handle, count, ...(ref.out === undefined ? { lines: kept } : {}) };
}

export async function cancelService(ref: RunRef, ctx: RunContext): Promise<CancelResult> {
  const { stored } = await resolveRun(ref, ctx);
  const adapter = await adapterFor(stored.handle, 'cancel');
  if (adapter.cancel === undefined) throw new FerryError('INTERNAL', 'adapterFor let a kind without cancel through');
  const outcome = await adapter.cancel(stored.handle, ctx);
  if (outcome.action === 'none') ctx.reporter.info(`run ${stored.handle.id} had already ended (${outcome.phase ?? outcome.before}): nothing to cancel`);
  else ctx.reporter.info(`run ${stored.handle.id}: ${outcome.action} sent (it was ${outcome.phase ?? outcome.before})`);
  return { handle: stored.handle, ...outcome };
}
