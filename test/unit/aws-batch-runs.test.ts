import { beforeEach, describe, expect, it } from 'vitest';
import { collectingReporter, type RunContext } from '../../src/core/context.js';
import { FerryError } from '../../src/core/errors.js';
import type { CancelOutcome, Handle, LogLine, LogOptions } from '../../src/core/target.js';
import { batchAdapter, DEFAULT_LOG_GROUP, setBatchDeps } from '../../src/targets/aws-batch/adapter.js';
import type { BatchApi, BatchJob } from '../../src/targets/aws-batch/client.js';
import type { LogPage, LogsApi } from '../../src/targets/aws-batch/logs-client.js';

/**
 * The Batch adapter's logs and cancel against in-memory Batch and CloudWatch Logs APIs that
 * record every call: which call cancel makes in each state, and how logs follow a job's attempts.
 */
const ctx = (): RunContext => ({ reporter: collectingReporter(), env: {}, cwd: '/' });
const handle = (ref: Record<string, string> = {}): Handle => ({
  id: '20261129-abc',
  target: 'nightly',
  type: 'aws-batch',
  image: 'r/x@sha256:' + 'a'.repeat(64),
  createdAt: '2026-11-29T10:00:00.000Z',
  ref: { jobId: 'job-1', jobQueue: 'q', ...ref },
});

function fakes(jobs: Record<string, BatchJob>, streams: Record<string, string[]> = {}) {
  const calls: string[] = [];
  const onDescribe: ((n: number) => void)[] = [];
  let describes = 0;
  const api: BatchApi = {
    describeJobDefinitions: () => Promise.reject(new Error('unused')),
    registerJobDefinition: () => Promise.reject(new Error('unused')),
    submitJob: () => Promise.reject(new Error('unused')),
    findJobsByName: () => Promise.reject(new Error('unused')),
    failedChildren: () => Promise.reject(new Error('unused')),
    describeJobs: (ids) => {
      calls.push(`DescribeJobs ${ids.join(',')}`);
      describes++;
      for (const f of onDescribe) f(describes);
      return Promise.resolve(ids.map((id) => jobs[id]).filter((j): j is BatchJob => j !== undefined));
    },
    cancelJob: (id) => {
      calls.push(`CancelJob ${id}`);
      const j = jobs[id];
      if (j !== undefined && ['SUBMITTED', 'PENDING', 'RUNNABLE'].includes(j.status)) j.status = 'FAILED';
      return Promise.resolve();
    },
    terminateJob: (id) => {
      calls.push(`TerminateJob ${id}`);
      return Promise.resolve();
    },
  };
  /** Each stream's events; a page holds at most 2 so paging is exercised. Tokens are "f/<stream>/<offset>". */
  const logsApi: LogsApi = {
    getLogEvents: (group, stream, token) => {
      calls.push(`GetLogEvents ${group} ${stream}`);
      const events = streams[stream];
      if (events === undefined) return Promise.resolve(null);
      const from = token === undefined ? 0 : Number(token.split('/').pop());
      const slice = events.slice(from, from + 2);
      const page: LogPage = { events: slice.map((m, i) => ({ message: `${m}\n`, timestamp: Date.UTC(2026, 10, 29, 10, 0, from + i) })), nextForwardToken: `f/${stream}/${from + slice.length}` };
      return Promise.resolve(page);
    },
  };
  return { api, logsApi, calls, onDescribe, streams };
}

function cancelRun(h: Handle, c: RunContext): Promise<CancelOutcome> {
  if (batchAdapter.cancel === undefined) throw new Error('aws-batch has no cancel');
  return batchAdapter.cancel(h, c);
}

function readLogs(h: Handle, opts: LogOptions, c: RunContext): AsyncIterable<LogLine> {
  if (batchAdapter.logs === undefined) throw new Error('aws-batch has no logs');
  return batchAdapter.logs(h, opts, c);
}

async function collect(it: AsyncIterable<LogLine>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l.text);
  return out;
}

beforeEach(() => {
  setBatchDeps({ sleep: () => Promise.resolve() });
});

describe('aws-batch cancel', () => {
  it.each([
    ['SUBMITTED', ['CancelJob job-1']],
    ['RUNNABLE', ['CancelJob job-1']],
    ['STARTING', ['TerminateJob job-1']],
    ['RUNNING', ['TerminateJob job-1']],
  ])('a %s job gets %j', async (status, writes) => {
    const f = fakes({ 'job-1': { jobId: 'job-1', jobName: 'n', status } });
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const out = await cancelRun(handle({ jobQueue: `q-${status}` }), ctx());
    expect(f.calls.filter((c) => !c.startsWith('DescribeJobs'))).toEqual(writes);
    expect(out.action).toBe(writes[0]?.split(' ')[0]);
    expect(out.phase).toBe(status);
  });

  it('a job that started between the look and CancelJob is terminated', async () => {
    const job: BatchJob = { jobId: 'job-1', jobName: 'n', status: 'RUNNABLE' };
    const f = fakes({ 'job-1': job });
    f.api.cancelJob = (id) => {
      f.calls.push(`CancelJob ${id}`);
      job.status = 'STARTING'; // CancelJob leaves a starting job alone
      return Promise.resolve();
    };
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    const out = await cancelRun(handle({ jobQueue: 'q-race' }), ctx());
    expect(f.calls.filter((c) => !c.startsWith('DescribeJobs'))).toEqual(['CancelJob job-1', 'TerminateJob job-1']);
    expect(out.action).toBe('CancelJob, TerminateJob');
  });

  it('an ended job is left alone; an unknown one is a coded error', async () => {
    const f = fakes({ 'job-1': { jobId: 'job-1', jobName: 'n', status: 'SUCCEEDED' } });
    setBatchDeps({ api: () => Promise.resolve(f.api) });
    expect(await cancelRun(handle({ jobQueue: 'q-ended' }), ctx())).toEqual({ action: 'none', before: 'succeeded', phase: 'SUCCEEDED' });
    expect(f.calls).toEqual(['DescribeJobs job-1']);
    const err = await cancelRun(handle({ jobQueue: 'q-ended', jobId: 'job-404' }), ctx()).catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('BATCH_JOB_NOT_FOUND');
  });
});

describe('aws-batch logs', () => {
  it('reads every attempt\'s stream in order, page by page, from the job definition\'s group', async () => {
    const f = fakes(
      { 'job-1': { jobId: 'job-1', jobName: 'n', status: 'FAILED', attempts: [{ container: { logStreamName: 's/1' } }, { container: { logStreamName: 's/2' } }], container: { logStreamName: 's/2' } } },
      { 's/1': ['a1', 'a2', 'a3'], 's/2': ['b1'] },
    );
    setBatchDeps({ api: () => Promise.resolve(f.api), logsApi: () => Promise.resolve(f.logsApi) });
    expect(await collect(readLogs(handle({ jobQueue: 'q-l1', logGroup: '/team/jobs' }), { follow: false }, ctx()))).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect(f.calls.filter((c) => c.startsWith('GetLogEvents')).every((c) => c.startsWith('GetLogEvents /team/jobs '))).toBe(true);
  });

  it('without a group in the handle, reads Batch\'s default group; no stream yet prints nothing', async () => {
    const f = fakes({ 'job-1': { jobId: 'job-1', jobName: 'n', status: 'RUNNABLE' } });
    setBatchDeps({ api: () => Promise.resolve(f.api), logsApi: () => Promise.resolve(f.logsApi) });
    expect(await collect(readLogs(handle({ jobQueue: 'q-l2' }), { follow: false }, ctx()))).toEqual([]);
    expect(f.calls).toEqual(['DescribeJobs job-1']);
    expect(DEFAULT_LOG_GROUP).toBe('/aws/batch/job');
  });

  it('follows a running job until it ends, without printing a line twice', async () => {
    const job: BatchJob = { jobId: 'job-1', jobName: 'n', status: 'RUNNABLE' };
    const events: string[] = [];
    const f = fakes({ 'job-1': job }, { 's/1': events });
    // The job starts on the 2nd look, writes a line per look, and ends on the 5th.
    f.onDescribe.push((n) => {
      if (n >= 2) {
        job.status = 'RUNNING';
        job.container = { logStreamName: 's/1' };
        events.push(`line ${n}`);
      }
      if (n >= 5) job.status = 'SUCCEEDED';
    });
    setBatchDeps({ api: () => Promise.resolve(f.api), logsApi: () => Promise.resolve(f.logsApi) });
    expect(await collect(readLogs(handle({ jobQueue: 'q-l3' }), { follow: true }, ctx()))).toEqual(['line 2', 'line 3', 'line 4', 'line 5']);
  });

  it('told by deploy when the run ended, it stops asking Batch for the state and drains', async () => {
    const job: BatchJob = { jobId: 'job-1', jobName: 'n', status: 'RUNNING', container: { logStreamName: 's/1' } };
    const events = ['x1'];
    const f = fakes({ 'job-1': job }, { 's/1': events });
    let end: () => void = () => undefined;
    const ended = new Promise<void>((r) => {
      end = r;
    });
    let sleeps = 0;
    setBatchDeps({
      api: () => Promise.resolve(f.api),
      logsApi: () => Promise.resolve(f.logsApi),
      sleep: () => {
        sleeps++;
        if (sleeps <= 3) events.push(`x${sleeps + 1}`);
        if (sleeps === 3) {
          job.status = 'SUCCEEDED';
          end();
        }
        return Promise.resolve();
      },
    });
    const lines = await collect(readLogs(handle({ jobQueue: 'q-l4' }), { follow: true, ended }, ctx()));
    expect(lines).toEqual(['x1', 'x2', 'x3', 'x4']);
    // One look to find the stream, one after the end for late attempts: not one per poll.
    expect(f.calls.filter((c) => c.startsWith('DescribeJobs'))).toHaveLength(2);
  });

  it('reads past an empty page whose token moves on (CloudWatch sends those mid-stream); stops when the token repeats', async () => {
    const f = fakes({ 'job-1': { jobId: 'job-1', jobName: 'n', status: 'SUCCEEDED', container: { logStreamName: 's/1' } } });
    const pages: Record<string, LogPage> = {
      start: { events: [{ message: 'a' }, { message: 'b' }], nextForwardToken: 't1' },
      t1: { events: [], nextForwardToken: 't2' },
      t2: { events: [{ message: 'c' }, { message: 'd' }], nextForwardToken: 't3' },
      t3: { events: [], nextForwardToken: 't3' },
    };
    f.logsApi.getLogEvents = (_g, _s, token) => Promise.resolve(pages[token ?? 'start'] ?? null);
    setBatchDeps({ api: () => Promise.resolve(f.api), logsApi: () => Promise.resolve(f.logsApi) });
    expect(await collect(readLogs(handle({ jobQueue: 'q-empty' }), { follow: false }, ctx()))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('following with deploy\'s state, it still looks at the job every few polls and picks up a retried attempt\'s stream', async () => {
    const job: BatchJob = { jobId: 'job-1', jobName: 'n', status: 'RUNNING', attempts: [], container: { logStreamName: 's/1' } };
    const f = fakes({ 'job-1': job }, { 's/1': ['first attempt'], 's/2': [] });
    let end: () => void = () => undefined;
    const ended = new Promise<void>((r) => {
      end = r;
    });
    let sleeps = 0;
    setBatchDeps({
      api: () => Promise.resolve(f.api),
      logsApi: () => Promise.resolve(f.logsApi),
      sleep: () => {
        sleeps++;
        if (sleeps === 2) {
          // Attempt 1 failed; Batch retries: a second stream.
          job.attempts = [{ container: { logStreamName: 's/1' } }];
          job.container = { logStreamName: 's/2' };
          f.streams['s/2']?.push('second attempt');
        }
        if (sleeps === 12) end();
        return Promise.resolve();
      },
    });
    const seen: string[] = [];
    for await (const l of readLogs(handle({ jobQueue: 'q-retry' }), { follow: true, ended }, ctx())) {
      seen.push(l.text);
      // Read before deploy says the run ended: the reader found the new stream itself.
      if (l.text === 'second attempt') expect(sleeps).toBeLessThan(12);
    }
    expect(seen).toEqual(['first attempt', 'second attempt']);
  });

  it('stops promptly when its signal aborts (Ctrl-C, or deploy stopping it), without a final drain', async () => {
    const f = fakes({ 'job-1': { jobId: 'job-1', jobName: 'n', status: 'RUNNING', container: { logStreamName: 's/1' } } }, { 's/1': ['one'] });
    const ac = new AbortController();
    setBatchDeps({
      api: () => Promise.resolve(f.api),
      logsApi: () => Promise.resolve(f.logsApi),
      sleep: () => {
        ac.abort('SIGINT');
        return Promise.resolve();
      },
    });
    const lines = await collect(readLogs(handle({ jobQueue: 'q-abort' }), { follow: true }, { ...ctx(), signal: ac.signal }));
    expect(lines).toEqual(['one']);
    expect(f.calls.filter((c) => c.startsWith('GetLogEvents')).length).toBeLessThanOrEqual(3);
  });

  it('an array job needs --index; the child is read by its own id; a bad index names the range', async () => {
    const f = fakes(
      {
        'job-1': { jobId: 'job-1', jobName: 'n', status: 'RUNNING', arrayProperties: { size: 3 } },
        'job-1:2': { jobId: 'job-1:2', jobName: 'n', status: 'SUCCEEDED', container: { logStreamName: 's/c2' } },
      },
      { 's/c2': ['child two'] },
    );
    setBatchDeps({ api: () => Promise.resolve(f.api), logsApi: () => Promise.resolve(f.logsApi) });
    const h = handle({ jobQueue: 'q-l5' });
    const noIndex = await collect(readLogs(h, { follow: false }, ctx())).catch((e: unknown) => e);
    expect(noIndex).toBeInstanceOf(FerryError);
    expect((noIndex as FerryError).code).toBe('BATCH_LOGS_ARRAY_JOB');
    expect((noIndex as FerryError).suggestions.join(' ')).toContain('--index N, with N from 0 to 2');
    expect(await collect(readLogs(h, { follow: false, index: 2 }, ctx()))).toEqual(['child two']);
    const bad = await collect(readLogs(h, { follow: false, index: 9 }, ctx())).catch((e: unknown) => e);
    expect((bad as FerryError).message).toContain('children 0 to 2, not 9');
  });
});
