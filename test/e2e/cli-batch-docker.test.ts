import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpBatch } from '../helpers/aws-batch.js';
import { envelope, ferry, ferryThenInterrupt, type CliResult } from '../helpers/cli.js';
import { makeBaseImage } from '../helpers/images.js';
import { MOTO_ACCOUNT, startMoto, type Moto } from '../helpers/moto.js';
import { podmanEnv } from '../helpers/podman.js';
import { startPodmanService, type PodmanService } from '../helpers/podman-service.js';
import { runProcess } from '../../src/infra/process.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * AWS Batch jobs that really run: moto's Docker-backed Batch (its default) drives podman's
 * Docker-compatible API, which pulls the image ferry pushed (the ECR host is mapped to the local
 * registry by the service's registries.conf, as ECR would serve it), runs the job's command, and
 * moto copies the container's output into CloudWatch Logs when it ends. So deploy's log
 * streaming, Ctrl-C (detach and cancel), `ferry cancel` of a running job (TerminateJob) and
 * `logs --follow` are checked against a job that exists and runs.
 *
 * moto's limits, which the assertions respect: a job is RUNNING as soon as it is described; its
 * logs reach CloudWatch Logs only when the container has ended; and DescribeJobs carries no exit
 * code, so a failed job makes ferry exit 1 rather than with the container's own code.
 */
const ECR_HOST = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const QUEUE = 'ferry-docker-queue';

let moto: Moto;
let podman: PodmanService;
let registry: TestRegistry;
let work: string;
let base: string;

interface DeployJson {
  state: string;
  exitCode: number;
  interrupted?: string;
  onInterrupt?: string;
  cancel?: { action: string; phase?: string };
  handle: { id: string; ref: Record<string, string> };
}

const env = (state: string): Record<string, string | undefined> => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  FERRY_STATE_DIR: state,
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  XDG_CONFIG_HOME: path.join(work, 'xdg'),
  ...moto.env,
});

/** A project whose job runs `script` in busybox sh. */
async function project(script: string): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await writeFile(path.join(dir, 'Dockerfile'), `FROM ${base}\nCOPY job.sh /job.sh\n`);
  await writeFile(path.join(dir, 'job.sh'), script);
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    [
      'apiVersion: ferry/v1',
      'image:',
      `  name: ${ECR_HOST}/team/docker-jobs`,
      'registries:',
      `  ${ECR_HOST}:`,
      `    endpoint: ${registry.url}`,
      `  ${registry.host}:`,
      '    insecure: true',
      'job:',
      '  command: ["sh", "/job.sh"]',
      'targets:',
      '  nightly:',
      '    type: aws-batch',
      `    queue: ${QUEUE}`,
      '',
    ].join('\n'),
  );
  return dir;
}

const run = (args: string[], cwd: string, state: string): Promise<CliResult> => ferry(args, { cwd, env: env(state), timeoutMs: 180_000 });

/** Starts `ferry deploy`, sends SIGINT once ferry says it is waiting, and returns what it printed. */
const deployThenInterrupt = (args: string[], cwd: string, state: string): Promise<CliResult> =>
  // The first state report comes after the handle is saved and the wait has begun.
  ferryThenInterrupt(['deploy', ...args], /: (RUNNING|RUNNABLE|STARTING|SUBMITTED|PENDING)\n/, { cwd, env: env(state) });

/** Polls `ferry status --last` until the run has ended (moto ends a terminated job within seconds). */
async function finalState(cwd: string, state: string): Promise<{ state: string; phase?: string; reason?: string }> {
  for (let i = 0; i < 60; i++) {
    const s = envelope<{ state: string; phase?: string; reason?: string }>(await run(['status', '--last', '--json'], cwd, state)).result;
    if (s !== undefined && ['succeeded', 'failed', 'cancelled'].includes(s.state)) return s;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the run did not end');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-batch-docker-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  registry = await startRegistry();
  base = (await makeBaseImage(registry, 'base/busybox', '1')).ref;
  // What ECR would serve under its host name, the local registry serves; podman pulls it from there.
  const conf = path.join(work, 'registries.conf');
  await writeFile(conf, `unqualified-search-registries = []\n\n[[registry]]\nprefix = "${ECR_HOST}"\nlocation = "${registry.host}"\ninsecure = true\n`);
  podman = await startPodmanService({ env: { CONTAINERS_REGISTRIES_CONF: conf } });
  moto = await startMoto({ env: { DOCKER_HOST: podman.dockerHost } });
  await setUpBatch(moto.url, QUEUE, { useDocker: true });
}, 180_000);

afterAll(async () => {
  await moto.stop();
  await podman.stop();
  await registry.stop();
  // The images the jobs pulled stay in podman's storage, which other tests share: remove them by ID.
  const penv = await podmanEnv();
  const ids = await runProcess('podman', ['images', '--quiet', '--filter', `reference=${ECR_HOST}/team/docker-jobs`], { env: penv, timeoutMs: 60_000 });
  const list = [...new Set(ids.stdout.split('\n').filter((l) => l !== ''))];
  if (list.length > 0) await runProcess('podman', ['rmi', '--force', ...list], { env: penv, timeoutMs: 60_000 });
});

describe('aws-batch jobs that really run (moto Batch on podman)', () => {
  it('deploy waits for the job, prints its output, and exits 0; a failing job exits non-zero with its output', async () => {
    const state = path.join(work, 'state-ok');
    const ok = await run(['deploy', 'nightly'], await project('echo hello-from-job\necho to-stderr >&2\n'), state);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('hello-from-job\n');
    expect(ok.stdout).toContain('to-stderr\n');
    expect(ok.stderr).toMatch(/: SUCCEEDED\n/);

    const bad = await run(['deploy', 'nightly', '--json'], await project('echo about-to-fail\nexit 3\n'), state);
    const out = envelope<DeployJson>(bad).result;
    expect(out?.state).toBe('failed');
    expect(bad.code).not.toBe(0);
    expect(out?.exitCode).toBe(bad.code);
    // Under --json the job's output goes to stderr, keeping stdout for the one envelope.
    expect(bad.stderr).toContain('about-to-fail\n');
  });

  it('Ctrl-C detaches by default: the job goes on, and ferry cancel --last terminates it (TerminateJob)', async () => {
    const state = path.join(work, 'state-detach');
    const dir = await project('echo started\nsleep 60\necho not-reached\n');
    const r = await deployThenInterrupt(['nightly', '--json'], dir, state);
    expect(r.code, r.stderr).toBe(130);
    const out = envelope<DeployJson>(r).result;
    expect(out).toMatchObject({ interrupted: 'SIGINT', onInterrupt: 'detached', state: 'running' });
    expect(r.stderr).toContain(`ferry cancel --id ${out?.handle.id ?? '?'}`);
    expect(envelope<{ state: string }>(await run(['status', '--last', '--json'], dir, state)).result?.state).toBe('running');

    const c = await run(['cancel', '--last', '--json'], dir, state);
    expect(c.code, c.stderr).toBe(0);
    expect(envelope<{ action: string; phase: string }>(c).result).toMatchObject({ action: 'TerminateJob', phase: 'RUNNING' });
    const end = await finalState(dir, state);
    expect(end.state).toMatch(/failed|cancelled/);
    expect(end.reason).toContain('ferry cancel');
    // What the job printed before it was killed is in its logs; what it never reached is not.
    const logs = await run(['logs', '--last'], dir, state);
    expect(logs.stdout).toContain('started\n');
    expect(logs.stdout).not.toContain('not-reached');
  });

  it('--cancel-on-interrupt: Ctrl-C terminates the job and ferry exits 130', async () => {
    const state = path.join(work, 'state-cancel');
    const dir = await project('echo started\nsleep 60\n');
    const r = await deployThenInterrupt(['nightly', '--json', '--cancel-on-interrupt'], dir, state);
    expect(r.code, r.stderr).toBe(130);
    expect(envelope<DeployJson>(r).result).toMatchObject({ interrupted: 'SIGINT', onInterrupt: 'cancelled', cancel: { action: 'TerminateJob' } });
    expect(r.stderr).toContain('cancelling the run');
    expect((await finalState(dir, state)).state).toMatch(/failed|cancelled/);
  });

  it('deploy --async, then logs --follow prints the job\'s output and returns when the job ends', async () => {
    const state = path.join(work, 'state-follow');
    const dir = await project('echo first\nsleep 2\necho last\n');
    const d = await run(['deploy', 'nightly', '--async'], dir, state);
    expect(d.code, d.stderr).toBe(0);
    const f = await run(['logs', '--last', '--follow'], dir, state);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toBe('first\nlast\n');
    expect(envelope<{ state: string }>(await run(['status', '--last', '--json'], dir, state)).result?.state).toBe('succeeded');
  });
});
