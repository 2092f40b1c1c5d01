/**
 * Benchmark (issue 4, second half): DescribeJobs calls per poll cycle while `ferry deploy --each`
 * waits for a 1,000-child AWS Batch array job (goal: at most 10). moto (a real server) answers
 * Batch and ECR, a proxy in front of it counts every request, and the image goes to a real registry
 * standing in for ECR.
 *
 * ferry polls the parent job only: its arrayProperties.statusSummary counts the children, so a
 * poll is one DescribeJobs whatever the array's size; children are described only when the array
 * has failed (ListJobs of FAILED children, one page of 5, then one DescribeJobs of those 5). The
 * peer is the naive waiter: DescribeJobs on every child id, 100 ids a call (the API's maximum), so
 * 10 calls a poll for 1,000 children. Both are measured through the same proxy, against the same
 * array job.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ecrPassword, setUpBatch as setUpMotoBatch } from '../test/helpers/aws-batch.js';
import { startFaultProxy, type FaultProxy } from '../test/helpers/fault-proxy.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../test/helpers/moto.js';
import { startRegistry } from '../test/helpers/registry.js';
import { collectingReporter } from '../src/core/context.js';
import type { Handle } from '../src/core/target.js';
import { batchAdapter } from '../src/targets/aws-batch/adapter.js';
import { createBatchApi } from '../src/targets/aws-batch/client.js';
import { benchMain, elapsedS, ferry, log, machine, machineLine, runsFor, table, writeResult } from './lib/common.js';

const NAME = 'batch-array-poll';
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const QUEUE = 'ferry-bench-queue';
const CHILDREN = 1000;
const GOAL = 10;

/** Docker-less Batch in this moto, an UNMANAGED compute environment and QUEUE. */
const setUpBatch = async (moto: Moto): Promise<void> => {
  await setUpMotoBatch(moto.url, QUEUE, { useDocker: false });
};

const batchOps = (proxy: FaultProxy, from: number): string[] =>
  proxy.requests
    .slice(from)
    .map((q) => /^\/v1\/([a-z]+)/.exec(q.path)?.[1])
    .filter((op): op is string => op !== undefined);

const countOf = (ops: string[], op: string): number => ops.filter((o) => o === op).length;

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const polls = runsFor(10);
  const m = await machine();
  const moto = await startMoto();
  c.add(() => moto.stop());
  const proxy = await startFaultProxy(moto.url, [], 1_800_000);
  c.add(() => proxy.stop());
  await setUpBatch(moto);
  const registry = await startRegistry({ mode: 'htpasswd', extraUsers: { AWS: await ecrPassword(moto.url) } });
  c.add(() => registry.stop());

  // An image with /bin/sh (busybox) and a CMD, so ferry wraps the command as it would for real.
  const dir = await c.tempDir('project');
  await writeFile(path.join(dir, 'hello.txt'), 'hello\n');
  await copyFile('/usr/bin/busybox', path.join(dir, 'busybox'));
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/sh\nCOPY hello.txt /\nCMD ["/bin/sh", "-c", "echo shard $SHARD"]\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${ECR_HOST}/bench/array\nregistries:\n  ${ECR_HOST}:\n    endpoint: ${registry.url}\ntargets:\n  nightly:\n    type: aws-batch\n    queue: ${QUEUE}\n`,
  );
  await writeFile(path.join(dir, 'shards.txt'), Array.from({ length: CHILDREN }, (_, i) => String(i)).join('\n') + '\n');
  const env = { FERRY_CACHE_DIR: await c.tempDir('cache'), DOCKER_CONFIG: await c.tempDir('docker-config'), ...moto.env, AWS_ENDPOINT_URL: proxy.url };

  // 1. The deploy itself: one SubmitJob for the 1,000 children, then the wait.
  const d0 = proxy.requests.length;
  const r = await ferry(['deploy', 'nightly', '--each-file', 'SHARD=shards.txt', '--json'], { cwd: dir, env, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`ferry deploy --each exited ${r.code}: ${r.stdout}\n${r.stderr}`);
  const result = (JSON.parse(r.stdout) as { result: { handle: Handle; children?: Record<string, number>; each?: { count: number } } }).result;
  const deployOps = batchOps(proxy, d0);
  log(`deploy --each (${CHILDREN} values): Batch ${deployOps.join(', ')}; children ${JSON.stringify(result.children)}`);

  // 2. Poll cycles on that array job, measured in this process through the same proxy: ferry's
  //    status (the adapter ferry deploy waits with) against the naive waiter.
  for (const [k, v] of Object.entries(moto.env)) if (v !== undefined) process.env[k] = v;
  process.env['AWS_ENDPOINT_URL'] = proxy.url;
  const ctx = { reporter: collectingReporter(), env: process.env, cwd: dir };
  const jobId = result.handle.ref['jobId'] ?? '';
  const childIds = Array.from({ length: CHILDREN }, (_, i) => `${jobId}:${i}`);
  const api = await createBatchApi({ file: path.join(dir, 'ferry.yaml'), target: 'nightly', queue: QUEUE });
  const cycle = async (what: string, poll: () => Promise<unknown>): Promise<{ what: string; calls: number[]; ms: number[] }> => {
    const calls: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < polls; i++) {
      const from = proxy.requests.length;
      const t0 = performance.now();
      await poll();
      times.push(performance.now() - t0);
      calls.push(batchOps(proxy, from).length);
    }
    log(`${what}: ${calls.join(', ')} calls a poll`);
    return { what, calls, ms: times };
  };
  const ferryPoll = await cycle('ferry (parent statusSummary)', () => batchAdapter.status(result.handle, ctx));
  const naivePoll = await cycle('naive (DescribeJobs on every child id)', async () => {
    const jobs = await api.describeJobs(childIds);
    if (jobs.length !== CHILDREN) throw new Error(`naive poll saw ${jobs.length} children`);
  });

  // 3. A failing array (a second moto whose jobs fail at once): the poll that sees the failure also
  //    samples the failed children, a bounded number of calls.
  const saved = process.env['MOTO_SIMPLE_BATCH_FAIL_AFTER'];
  process.env['MOTO_SIMPLE_BATCH_FAIL_AFTER'] = '0';
  const failing = await startMoto().finally(() => {
    if (saved === undefined) delete process.env['MOTO_SIMPLE_BATCH_FAIL_AFTER'];
    else process.env['MOTO_SIMPLE_BATCH_FAIL_AFTER'] = saved;
  });
  c.add(() => failing.stop());
  const failProxy = await startFaultProxy(failing.url, [], 1_800_000);
  c.add(() => failProxy.stop());
  await setUpBatch(failing);
  const f0 = failProxy.requests.length;
  const rf = await ferry(['deploy', 'nightly', '--each-file', 'SHARD=shards.txt', '--json'], { cwd: dir, env: { ...env, AWS_ENDPOINT_URL_BATCH: failProxy.url }, timeoutMs: 600_000 });
  const failed = (JSON.parse(rf.stdout) as { result?: { children?: Record<string, number>; failedChildren?: unknown[] } }).result;
  const failOps = batchOps(failProxy, f0);
  log(`failing deploy --each: exit ${rf.code}; Batch ${failOps.join(', ')}; children ${JSON.stringify(failed?.children)}; ${failed?.failedChildren?.length ?? 0} failed children named`);
  if (rf.code === 0) throw new Error('the failing array deploy exited 0');

  const maxFerry = Math.max(...ferryPoll.calls);
  const goalMet = maxFerry <= GOAL;
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const afterSubmit = (ops: string[]): string[] => ops.slice(ops.indexOf('submitjob') + 1);
  const markdown = [
    table(
      ['waiter', `poll cycles`, 'DescribeJobs calls per poll', 'other calls per poll', 'median ms per poll'],
      [
        ['ferry: the parent only (arrayProperties.statusSummary)', polls, maxFerry, 0, med(ferryPoll.ms).toFixed(1)],
        [`naive: every child id, 100 a call`, polls, Math.max(...naivePoll.calls), 0, med(naivePoll.ms).toFixed(1)],
      ],
    ),
    '',
    table(
      ['deploy --each over 1,000 values', 'exit', 'Batch calls after SubmitJob (the wait)', 'children'],
      [
        ['all children succeed', r.code, afterSubmit(deployOps).join(', '), JSON.stringify(result.children ?? {})],
        [
          'all children fail',
          rf.code,
          afterSubmit(failOps).join(', '),
          `${JSON.stringify(failed?.children ?? {})}, ${failed?.failedChildren?.length ?? 0} named`,
        ],
      ],
    ),
    '',
    `Goal (at most ${GOAL} DescribeJobs calls per poll cycle for a ${CHILDREN}-child array job): **${goalMet ? 'met' : 'MISSED'}** (ferry: ${maxFerry}; the naive waiter: ${Math.max(...naivePoll.calls)}). One SubmitJob submitted all ${CHILDREN} children (${countOf(deployOps, 'submitjob')} in the deploy). When the array fails, the poll that sees it adds one ListJobs (FAILED children, one page of 5) and one DescribeJobs of those 5, once.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');
  await writeResult({
    name: NAME,
    title: 'DescribeJobs calls per poll for a 1,000-child array job',
    goal: `at most ${GOAL} DescribeJobs calls per poll cycle for a ${CHILDREN}-child array job`,
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: `bench/run-all.sh ${NAME}`,
    machine: m,
    method: [
      'moto server (Batch with use_docker: false, an UNMANAGED compute environment and a queue; ECR API) behind a proxy that records every request; the image (busybox as /bin/sh, a CMD) goes to a real docker-registry standing in for ECR.',
      `\`ferry deploy nightly --each-file SHARD=shards.txt --json\` over ${CHILDREN} values (one array job); then ${polls} poll cycles on that job, each counted from the proxy log: ferry's own status (the adapter the deploy waits with) and the naive waiter (DescribeJobs on all ${CHILDREN} child ids, 100 a call).`,
      'Then the same deploy against a second moto whose jobs fail at once (MOTO_SIMPLE_BATCH_FAIL_AFTER=0), counting the calls of the wait that ends in the failure.',
      'moto ends jobs at once, so each deploy waits one poll; the per-poll counts come from the repeated cycles.',
    ],
    data: { children: CHILDREN, polls, ferryPoll, naivePoll, deployOps, failOps, failExit: rf.code, failedChildren: failed?.failedChildren ?? [] },
    markdown,
  });
});
