/**
 * Benchmark (issue 4, first half): AWS API calls per Batch deploy, excluding status polls
 * (goal: at most 3 Batch calls). moto (a real server) answers Batch and ECR, a proxy in front of it
 * counts every request, and the image goes to a real registry standing in for ECR. The peer is
 * what the AWS CLI recipe costs for the same deploy: `aws ecr get-login-password`, `aws batch
 * register-job-definition`, `aws batch submit-job` (it registers a new revision every time).
 *
 * The second half of the benchmark (DescribeJobs calls per poll for a 1,000-child array
 * job) is bench/batch-array-poll.ts.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ecrPassword, setUpBatch } from '../test/helpers/aws-batch.js';
import { startFaultProxy } from '../test/helpers/fault-proxy.js';
import { MOTO_ACCOUNT, startMoto } from '../test/helpers/moto.js';
import { startRegistry } from '../test/helpers/registry.js';
import { benchMain, elapsedS, ferry, log, machine, machineLine, runsFor, table, writeResult } from './lib/common.js';

const NAME = 'batch-api-calls';
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const QUEUE = 'ferry-bench-queue';
const POLLS = new Set(['describejobs']);

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const runs = runsFor(5);
  const m = await machine();
  const moto = await startMoto();
  c.add(() => moto.stop());
  const proxy = await startFaultProxy(moto.url, [], 1_800_000);
  c.add(() => proxy.stop());
  await setUpBatch(moto.url, QUEUE, { useDocker: false });
  const registry = await startRegistry({ mode: 'htpasswd', extraUsers: { AWS: await ecrPassword(moto.url) } });
  c.add(() => registry.stop());

  const dir = await c.tempDir('project');
  const edit = async (i: number): Promise<void> => {
    await writeFile(path.join(dir, 'hello.txt'), `hello ${i}\n`);
  };
  await edit(0);
  await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello"]\n');
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${ECR_HOST}/bench/nightly\nregistries:\n  ${ECR_HOST}:\n    endpoint: ${registry.url}\ntargets:\n  nightly:\n    type: aws-batch\n    queue: ${QUEUE}\n`,
  );
  const env = { FERRY_CACHE_DIR: await c.tempDir('cache'), DOCKER_CONFIG: await c.tempDir('docker-config'), ...moto.env, AWS_ENDPOINT_URL: proxy.url };

  const count = (from: number): { batch: string[]; polls: number; ecr: string[]; logs: number } => {
    const seen = proxy.requests.slice(from);
    const batchOps = seen.map((q) => /^\/v1\/([a-z]+)/.exec(q.path)?.[1]).filter((op): op is string => op !== undefined);
    // JSON-protocol APIs name the operation in X-Amz-Target: ECR (AmazonEC2ContainerRegistry_…) and CloudWatch Logs (Logs_…).
    const targets = seen.map((q) => q.target).filter((t): t is string => t !== undefined && t !== '');
    const ecrOps = targets.filter((t) => t.startsWith('AmazonEC2ContainerRegistry')).map((t) => t.split('.').pop() ?? t);
    const logs = targets.filter((t) => t.startsWith('Logs_')).length;
    return { batch: batchOps.filter((op) => !POLLS.has(op)), polls: batchOps.filter((op) => POLLS.has(op)).length, ecr: ecrOps, logs };
  };

  const rows: { kind: string; batch: string[]; polls: number; ecr: string[]; logs: number; ms: number }[] = [];
  const deployOnce = async (kind: string): Promise<void> => {
    const from = proxy.requests.length;
    const r = await ferry(['deploy', 'nightly', '--json'], { cwd: dir, env, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`ferry deploy exited ${r.code}: ${r.stdout}\n${r.stderr}`);
    const n = count(from);
    rows.push({ kind, ...n, ms: r.ms });
    log(`${kind}: Batch ${n.batch.join(', ')} (${n.batch.length}), ${n.polls} DescribeJobs polls, ECR ${n.ecr.join(', ')}, ${n.logs} GetLogEvents`);
  };
  await deployOnce('first deploy (registers the job definition)');
  for (let i = 0; i < runs; i++) await deployOnce('same image again (reuses the revision)');
  for (let i = 1; i <= runs; i++) {
    await edit(i);
    await deployOnce('new image (registers a revision)');
  }

  const maxBatch = Math.max(...rows.map((r) => r.batch.length));
  const goalMet = maxBatch <= 3;
  const peer = 2; // register-job-definition + submit-job, every time
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const markdown = [
    table(
      ['deploy', 'runs', 'Batch calls (no polls)', 'which', 'ECR calls', 'log reads (GetLogEvents)', 'AWS CLI recipe (Batch)'],
      kinds.map((k) => {
        const rs = rows.filter((r) => r.kind === k);
        const first = rs[0];
        return [k, rs.length, Math.max(...rs.map((r) => r.batch.length)), first?.batch.join(', ') ?? '', first?.ecr.join(', ') ?? '', Math.max(...rs.map((r) => r.logs)), peer];
      }),
    ),
    '',
    `Goal (at most 3 Batch calls per deploy, status polls excluded): **${goalMet ? 'met' : 'MISSED'}** (largest: ${maxBatch}). ECR calls are listed apart: the push asks for a token and checks the repository once per command. So are the log reads: deploy follows the job's CloudWatch Logs stream while it waits (here moto's Docker-less jobs write none, so each read finds no stream: one read, and one more a second later for lines that land late).`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');
  await writeResult({
    name: NAME,
    title: 'AWS API calls per Batch deploy',
    goal: 'at most 3 Batch API calls per deploy, status polls excluded',
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh batch-api-calls',
    machine: m,
    method: [
      'moto server (Batch with use_docker: false, an UNMANAGED compute environment and a queue; ECR API) behind a proxy that records every request; the image goes to a real docker-registry standing in for ECR (registries.<ECR host>.endpoint).',
      `One first deploy, then ${runs} deploys of the same image, then ${runs} deploys each after a one-line change to the image; each \`ferry deploy nightly --json\` counted from the proxy log.`,
      'Peer: the AWS CLI recipe for the same deploy (register-job-definition + submit-job), 2 Batch calls every time, registering a new revision each time.',
    ],
    data: { runs, rows, maxBatchCalls: maxBatch, peerBatchCalls: peer },
    markdown,
  });
});
