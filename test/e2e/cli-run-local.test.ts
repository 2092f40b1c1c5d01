import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/infra/process.js';
import { envelope, ferry, REPO_ROOT, type CliResult } from '../helpers/cli.js';
import { makeBaseImage } from '../helpers/images.js';
import { podmanEnv } from '../helpers/podman.js';
import { startPodmanService, type PodmanService } from '../helpers/podman-service.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * `ferry run` and `ferry deploy` on real engines: the podman CLI, and the Docker Engine API served
 * by `podman system service`. The example pipeline builds FROM busybox:1.36, which the test
 * registry serves as a docker.io mirror (no internet here).
 */
let reg: TestRegistry;
let svc: PodmanService;
let work: string;
let project: string;
let penv: Record<string, string>;

interface RunJson {
  target: string;
  engine: string;
  image: string;
  imageId: string;
  digest: string;
  exitCode: number;
  loaded: boolean;
  container: string;
  interrupted?: string;
}

const baseYaml = (host: string): string =>
  `apiVersion: ferry/v1\nimage:\n  name: ${host}/examples/hello-busybox\nregistries:\n  "${host}": {insecure: true}\n  mirrors:\n    docker.io: ${host}/mirror\n`;

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...penv,
    FERRY_CACHE_DIR: path.join(work, 'cache'),
    DOCKER_CONFIG: path.join(work, 'docker-config'),
    REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
    DOCKER_HOST: undefined,
    DOCKER_CONTEXT: undefined,
    ...extra,
  };
}

const engines = {
  podman: (): { flags: string[]; env: Record<string, string | undefined> } => ({ flags: ['--engine', 'podman'], env: env() }),
  docker: (): { flags: string[]; env: Record<string, string | undefined> } => ({ flags: ['--engine', 'docker'], env: env({ DOCKER_HOST: svc.dockerHost }) }),
};

async function containerExists(name: string): Promise<boolean> {
  const r = await runProcess('podman', ['container', 'exists', name], { env: penv });
  return r.code === 0;
}

async function newProject(yaml: string): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await cp(path.join(REPO_ROOT, 'examples', 'hello-busybox'), dir, { recursive: true });
  await writeFile(path.join(dir, 'ferry.yaml'), yaml);
  return dir;
}

/** bin/run.js as `node -- bin/run.js ARGS`: node's own option parsing ends at `--`. */
function nodeDashDash(args: string[], extra: Record<string, string | undefined>): Promise<CliResult> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...extra })) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--', path.join(REPO_ROOT, 'bin', 'run.js'), ...args], { cwd: project, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function result(r: CliResult): RunJson {
  const e = envelope<RunJson>(r);
  expect(e.result, r.stderr).toBeDefined();
  return e.result as RunJson;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-run-'));
  await mkdir(path.join(work, 'docker-config'));
  penv = await podmanEnv();
  [reg, svc] = await Promise.all([startRegistry({ mode: 'open' }), startPodmanService()]);
  await makeBaseImage(reg, 'mirror/library/busybox', '1.36');
  project = await newProject(baseYaml(reg.host));
});

afterAll(async () => {
  await Promise.all([reg.stop(), svc.stop()]);
});

describe.each(['podman', 'docker'] as const)('ferry run with the %s engine', (kind) => {
  it('loads the image once, runs it pinned by ID, streams its output, and removes the container', async () => {
    const e = engines[kind]();
    // Start from an engine without the image, whichever test ran before.
    const built = await ferry(['build', '--json'], { cwd: project, env: e.env });
    expect(built.code, built.stderr).toBe(0);
    const configDigest = envelope<{ config: string }>(built).result?.config ?? '';
    await runProcess('podman', ['rmi', '--force', configDigest], { env: penv });

    const first = await ferry(['run', '--json', ...e.flags], { cwd: project, env: e.env });
    expect(first.code, first.stderr).toBe(0);
    const r1 = result(first);
    expect(r1).toMatchObject({ target: 'local', engine: kind, exitCode: 0, loaded: true, imageId: configDigest });
    expect(r1.image).toBe(`${reg.host}/examples/hello-busybox@${r1.digest}`);
    // --json: the container's stdout went to stderr, stdout is the envelope alone
    expect(first.stderr).toContain('hello from ferry: 3 trips in data/trips.csv');
    expect(await containerExists(r1.container)).toBe(false);

    const second = await ferry(['run', ...e.flags, '-e', 'EXIT_CODE=3', '--', 'data/trips.csv'], { cwd: project, env: e.env });
    expect(second.code, second.stderr).toBe(3);
    expect(second.stdout).toBe('hello from ferry: 3 trips in data/trips.csv\n');
    expect(second.stderr).toContain('already');
    const leftovers = await runProcess('podman', ['ps', '-a', '--filter', 'label=dev.ferry.target', '--format', '{{.Names}}'], { env: penv });
    expect(leftovers.stdout.trim()).toBe('');
  });

  it('passes -e, --env-file, a bind mount read and written, --workdir, --user and --entrypoint', async () => {
    const e = engines[kind]();
    const mnt = await mkdtemp(path.join(work, 'mnt-'));
    await chmod(mnt, 0o777);
    await writeFile(path.join(mnt, 'in.txt'), 'from the host\n');
    const envFile = path.join(work, `${kind}.env`);
    await writeFile(envFile, '# comment\nA=one two\n  B=from-file\nPASSED\n');
    const r = await ferry(
      [
        'run',
        '--json',
        ...e.flags,
        '--env-file',
        envFile,
        '-e',
        'B=from-flag',
        '-e',
        'PASSED',
        '-v',
        `${mnt}:/mnt`,
        '-w',
        '/mnt',
        '-u',
        '1234:1234',
        '--entrypoint',
        'sh',
        '--',
        '-c',
        'cat in.txt; echo "$A|$B|$PASSED|$GREETING" > out.txt; pwd; id -u; exit 4',
      ],
      { cwd: project, env: { ...e.env, PASSED: 'from-ferry' } },
    );
    expect(r.code, r.stderr).toBe(4);
    expect(result(r).exitCode).toBe(4);
    expect(envelope(r).status).toBe(4);
    expect(r.stderr).toContain('from the host\n/mnt\n1234\n');
    expect(await readFile(path.join(mnt, 'out.txt'), 'utf8')).toBe('one two|from-flag|from-ferry|hello from ferry\n');
  });
});

describe('ferry deploy', () => {
  it('runs on the implicit local target when ferry.yaml has no targets', async () => {
    const r = await ferry(['deploy', '--json', '--engine', 'podman'], { cwd: project, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(result(r)).toMatchObject({ target: 'local', exitCode: 0, loaded: false });
  });

  it("runs a named local target with the job section and the target's settings", async () => {
    const dir = await newProject(
      baseYaml(reg.host) +
        [
          'job:',
          '  command: [/bin/sh, -c]',
          '  args: [\'echo "$GREETING|$JOB_VAR|$FILE_VAR|$(pwd)|$(id -u)|$(cat /in/data.txt)"; exit "$EXIT_CODE"\']',
          '  env: {JOB_VAR: from-job, EXIT_CODE: 5, FILE_VAR: from-job}',
          '  resources: {memory: 64Mi, cpu: "500m"}',
          '  timeout: 5m',
          'targets:',
          '  dev:',
          '    type: local',
          '    engine: podman',
          '    workdir: /tmp',
          '    user: "4321"',
          '    volumes: ["./mnt:/in:ro"]',
          '    envFiles: [dev.env]',
          '  other: {type: local}',
          '',
        ].join('\n'),
    );
    await mkdir(path.join(dir, 'mnt'));
    await writeFile(path.join(dir, 'mnt', 'data.txt'), 'mounted');
    await writeFile(path.join(dir, 'dev.env'), 'FILE_VAR=from-env-file\n');
    const r = await ferry(['deploy', 'dev'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout).toBe('hello from ferry|from-job|from-env-file|/tmp|4321|mounted\n');
    // with several targets, a name is needed
    const none = await ferry(['deploy', '--json'], { cwd: dir, env: env() });
    expect(none.code).toBe(64);
    expect(envelope(none).error?.code).toBe('USAGE_TARGET_REQUIRED');
  });

  it('stops a run at job.timeout with RUN_TIMEOUT and removes the container', async () => {
    const dir = await newProject(baseYaml(reg.host) + "job:\n  command: [sh, -c, 'trap \"exit 143\" TERM; sleep 60 & wait']\n  timeout: 1s\n");
    const r = await ferry(['run', '--json', '--engine', 'docker'], { cwd: dir, env: env({ DOCKER_HOST: svc.dockerHost }) });
    expect(r.code, r.stderr).toBe(75);
    expect(envelope(r).error?.code).toBe('RUN_TIMEOUT');
    const leftovers = await runProcess('podman', ['ps', '-a', '--filter', 'label=dev.ferry.target', '--format', '{{.Names}}'], { env: penv });
    expect(leftovers.stdout.trim()).toBe('');
  });
});

describe.each(['podman', 'docker'] as const)('Ctrl-C with the %s engine', (kind) => {
  it('stops and removes the container, and exits 130', async () => {
    const e = engines[kind]();
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...e.env })) if (v !== undefined) childEnv[k] = v;
    const child = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'run.js'), 'run', '--json', ...e.flags, '--entrypoint', 'sh', '--', '-c', 'trap "exit 143" TERM; echo started; sleep 300 & wait'],
      { cwd: project, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const started = new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('started\n')) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    await Promise.race([started, exited]);
    child.kill('SIGINT');
    const code = await exited;
    clearTimeout(guard);
    expect(code, stderr).toBe(130);
    const res = result({ code: code ?? -1, stdout, stderr });
    expect(res).toMatchObject({ exitCode: 130, interrupted: 'SIGINT' });
    expect(await containerExists(res.container)).toBe(false);
  });
});

describe('bad input', () => {
  const run = (args: string[], extra: Record<string, string | undefined> = {}, cwd = project): Promise<CliResult> =>
    ferry(['run', '--json', ...args], { cwd, env: env(extra) });
  const expectError = (r: CliResult, exit: number, code: string): void => {
    expect(r.code, r.stderr).toBe(exit);
    expect(envelope(r).error?.code).toBe(code);
  };

  it('refuses bad flags, missing files and bad env-file lines with usage errors', async () => {
    expectError(await run(['-v', 'no-colon']), 64, 'USAGE_BAD_VOLUME');
    expectError(await run(['-v', './not-there:/x']), 64, 'VOLUME_SOURCE_NOT_FOUND');
    // Node itself exits 9 ("node: FILE: not found") for a missing file after any `--env-file`
    // argument, even one meant for the script (nodejs/node#54232), unless `--` ends node's own
    // options; so ferry's own check is reached here through `node -- bin/run.js`.
    const missing = await nodeDashDash(['run', '--json', '--env-file', 'missing.env'], env());
    expectError(missing, 64, 'ENV_FILE_NOT_FOUND');
    const missingInYaml = await newProject(baseYaml(reg.host) + 'targets:\n  local: {type: local, envFiles: [missing.env]}\n');
    expectError(await run([], {}, missingInYaml), 78, 'ENV_FILE_NOT_FOUND');
    await writeFile(path.join(work, 'bad.env'), 'OK=1\nBAD NAME=2\n');
    const bad = await run(['--env-file', path.join(work, 'bad.env')]);
    expectError(bad, 64, 'ENV_FILE_INVALID');
    expect(envelope(bad).error?.where).toMatch(/bad\.env:2$/);
    expectError(await run(['-p', '99999']), 64, 'USAGE_BAD_PUBLISH');
    expectError(await run(['-e', '=x']), 64, 'USAGE_BAD_ENV');
    expectError(await run(['--engine', 'lxc']), 64, 'USAGE');
  });

  it('names an unknown target, and bad job values with their line', async () => {
    const dir = await newProject(baseYaml(reg.host) + 'targets:\n  dev: {type: local}\n');
    const r = await ferry(['deploy', 'dve', '--json'], { cwd: dir, env: env() });
    expectError(r, 78, 'CONFIG_UNKNOWN_TARGET');
    expect(envelope(r).error?.suggestions.join(' ')).toContain('dev');
    const bad = await newProject(baseYaml(reg.host) + 'job:\n  resources: {memory: 2G}\n  timeout: soon\n');
    const b = await run([], {}, bad);
    expectError(b, 78, 'CONFIG_INVALID');
    expect(envelope(b).error?.where).toMatch(/ferry\.yaml:9:\d+ \(job\.resources\.memory\)/);
  });

  it('reports an engine socket that is not listening, and no engine at all', async () => {
    const dead = path.join(work, 'dead.sock');
    // A socket file nobody listens on: bound, then the process exits without unlinking it.
    await runProcess('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(dead)})`]);
    const r = await run(['--engine', 'docker'], { DOCKER_HOST: `unix://${dead}` });
    expectError(r, 69, 'ENGINE_UNREACHABLE');
    expect(envelope(r).error?.message).toContain(dead);
    const auto = await run([], { DOCKER_HOST: `unix://${path.join(work, 'nothing.sock')}` });
    expectError(auto, 69, 'ENGINE_UNREACHABLE');

    // "No engine at all" needs a machine without /var/run/docker.sock (this one has none).
    if (!existsSync('/var/run/docker.sock')) {
      const home = await mkdtemp(path.join(work, 'home-'));
      const none = await run([], { PATH: '/nonexistent', HOME: home, DOCKER_CONFIG: undefined });
      expectError(none, 69, 'ENGINE_NOT_FOUND');
      expect(envelope(none).error?.message).toContain('podman');
    }
    const nopodman = await run(['--engine', 'podman'], { PATH: '/nonexistent' });
    expectError(nopodman, 69, 'ENGINE_NOT_FOUND');
  });
});
