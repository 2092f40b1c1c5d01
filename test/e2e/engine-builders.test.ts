import { cp, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '../../src/infra/process.js';
import { envelope, ferry, REPO_ROOT } from '../helpers/cli.js';
import { makeBaseImage, makePythonBaseImage, pushLayout, type BaseImage } from '../helpers/images.js';
import { podmanEnv, podmanRun } from '../helpers/podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startPodmanService, type PodmanService } from '../helpers/podman-service.js';

/**
 * The engine builders (podman, buildah) against the real programs: the data-pipeline example, whose
 * `FROM python:3.11-slim` is served by registries.mirrors from a local registry (no internet here),
 * is built by each engine, pushed by ferry, and run by podman. Bad input: a failing RUN, a missing
 * engine, a stage that does not exist. Secrets never reach the image.
 */
let reg: TestRegistry;
let work: string;
let baseEnv: Record<string, string>;
let python: BaseImage;

interface BuildJson {
  digest: string;
  builder: string;
  image: string | null;
  layout: string;
  layers: { digest: string; source: string; reused: boolean }[];
  prefix?: { key: string; line: number; source: string };
}
interface PushJson {
  image: string;
  digest: string;
  blobs: { uploaded: number; skipped: number; mounted: number };
  layers: { source: string }[];
}

const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  ...baseEnv,
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  // No Docker Engine here: auto must pass over docker and say why.
  DOCKER_HOST: `unix://${path.join(work, 'no-docker.sock')}`,
  BUILDAH_ISOLATION: 'chroot',
  ...extra,
});

async function project(name: string, opts: { dockerfile?: string } = {}): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await cp(path.join(REPO_ROOT, 'examples', 'data-pipeline'), dir, { recursive: true });
  if (opts.dockerfile !== undefined) await writeFile(path.join(dir, 'Dockerfile'), opts.dockerfile);
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${reg.host}/${name}\nregistries:\n  mirrors:\n    docker.io: ${reg.host}/mirror\n  "${reg.host}": {insecure: true}\n`,
  );
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-engines-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  await writeFile(path.join(work, 'no-auth.json'), '{}');
  baseEnv = await podmanEnv();
  reg = await startRegistry({ mode: 'open' });
  [python] = await Promise.all([makePythonBaseImage(reg, 'mirror/library/python', '3.11-slim'), makeBaseImage(reg, 'mirror/library/busybox', '1.36')]);
}, 180_000);

afterAll(async () => {
  await reg.stop();
});

describe.each(['podman', 'buildah'])('the %s builder', (engine) => {
  it('builds the data-pipeline example through the mirror, pushes one OCI manifest, and podman runs it', async () => {
    const dir = await project(`team/pipeline-${engine}`);
    const r = await ferry(['push', '--json', '--builder', engine], { cwd: dir, env: env(), timeoutMs: 300_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const res = envelope<PushJson>(r).result;
    expect(res?.image).toMatch(new RegExp(`^${reg.host}/team/pipeline-${engine}@sha256:[0-9a-f]{64}$`));
    // The base layer comes from the mirror repository of the same registry: mounted, not uploaded.
    expect(res?.layers[0]?.source).toBe('base');
    expect(res?.blobs.mounted).toBe(1);
    // The engine's progress streamed to stderr, RUN output included.
    expect(r.stderr).toMatch(/STEP \d+\/\d+: RUN pip install/);

    // One image manifest, no index or attestation (Lambda and others refuse those).
    const raw = await runChecked('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${res?.image ?? ''}`]);
    const manifest = JSON.parse(raw.stdout) as { mediaType: string; layers: unknown[] };
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');

    const ok = await podmanRun(res?.image ?? '');
    expect(ok.stdout, ok.stderr).toContain('3 trips in data/trips.csv, median distance 3.2 km');
    expect(ok.code).toBe(0);
    const failing = await podmanRun(res?.image ?? '', [], { env: { EXIT_CODE: '3' } });
    expect(failing.code).toBe(3);
  }, 400_000);
});

describe('what engine builds take', () => {
  it.each(['buildah', 'podman'])('%s: --build-arg, --target and --label reach the engine; later stages are not built', async (engine) => {
    const dir = await project(`team/passthrough-${engine}`, {
      dockerfile:
        'FROM busybox:1.36 AS base\nARG GREETING=hi\nRUN echo "$GREETING" > /greeting\nFROM base AS app\nCOPY pipeline.py /app/\nFROM app AS broken\nRUN exit 9\n',
    });
    const r = await ferry(['push', '--json', '--builder', engine, '--target', 'app', '--build-arg', 'GREETING=hello', '--label', 'team=data'], {
      cwd: dir,
      env: env(),
      timeoutMs: 300_000,
    });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const image = envelope<PushJson>(r).result?.image ?? '';
    const cfg = JSON.parse((await runChecked('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${image}`])).stdout) as {
      config: { Labels?: Record<string, string> };
    };
    expect(cfg.config.Labels?.['team']).toBe('data');
    const out = await podmanRun(image, ['cat', '/greeting', '/app/pipeline.py']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.split('\n')[0]).toBe('hello');
  }, 300_000);
});

describe('engine builds and the context', () => {
  it("ferry's own .ferry/ output is never sent to the engine (a second build would copy the first)", async () => {
    const dir = await project('team/selfcopy', { dockerfile: 'FROM busybox:1.36\nCOPY . /src\nRUN test ! -e /src/.ferry && test -f /src/pipeline.py\n' });
    for (const n of [1, 2]) {
      const r = await ferry(['build', '--json', '--builder', 'podman'], { cwd: dir, env: env(), timeoutMs: 300_000 });
      expect(r.code, `build ${n}: ${r.stderr}${r.stdout}`).toBe(0);
    }
  }, 300_000);

  it('a heredoc RUN goes to the engine (auto: in the hybrid prefix); --builder native refuses it', async () => {
    const dir = await project('team/heredoc', { dockerfile: 'FROM busybox:1.36\nRUN <<EOF\necho from-heredoc > /h.txt\nEOF\nCOPY pipeline.py /app/\n' });
    const r = await ferry(['push', '--json'], { cwd: dir, env: env(), timeoutMs: 300_000 });
    expect(r.stderr).toMatch(/hybrid build: Dockerfile up to line 4/);
    expect(r.stderr).toContain('building with podman');
    if (r.code === 0) {
      const res = envelope<PushJson & { prefix?: { source: string; line: number } }>(r).result;
      expect((await podmanRun(res?.image ?? '', ['cat', '/h.txt'])).stdout).toContain('from-heredoc');
    } else {
      // podman 4.3 (buildah 1.28, this machine's) predates heredoc support (buildah 1.33): its own
      // error comes back as the build's failure.
      expect(envelope(r).error?.code).toBe('ENGINE_BUILD_FAILED');
    }
    const native = await ferry(['build', '--json', '--builder', 'native'], { cwd: dir, env: env() });
    expect(envelope(native).error?.code).toBe('DOCKERFILE_HEREDOC');
  }, 300_000);

  it('auto with a base image only the engine has: no hybrid, the engine builds it all', async () => {
    const local = `localhost/ferry-test-onlylocal:${Math.random().toString(36).slice(2, 8)}`;
    await runChecked('podman', ['pull', '--tls-verify=false', `${reg.host}/mirror/library/busybox:1.36`], { env: baseEnv });
    await runChecked('podman', ['tag', `${reg.host}/mirror/library/busybox:1.36`, local], { env: baseEnv });
    try {
      const dir = await project('team/onlylocal', { dockerfile: `FROM ${local}\nRUN echo ok > /ok\nCOPY pipeline.py /app/\n` });
      const r = await ferry(['build', '--json'], { cwd: dir, env: env(), timeoutMs: 300_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(envelope<BuildJson>(r).result?.builder).toBe('podman');
    } finally {
      await runChecked('podman', ['rmi', local], { env: baseEnv });
    }
  }, 300_000);
});

describe('choosing a builder', () => {
  it('auto passes over an unreachable Docker API and builds the prefix with podman; a second build compresses nothing again', async () => {
    const dir = await project('team/auto');
    const first = await ferry(['build', '--json'], { cwd: dir, env: env(), timeoutMs: 300_000 });
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const a = envelope<BuildJson>(first).result;
    expect(a?.builder).toBe('hybrid');
    expect(a?.prefix?.source).toBe('podman');
    const second = await ferry(['build', '--json', '--builder', 'podman'], { cwd: dir, env: env(), timeoutMs: 300_000 });
    expect(second.code, second.stderr).toBe(0);
    const p1 = envelope<BuildJson>(second).result;
    expect(p1?.builder).toBe('podman');
    const third = await ferry(['build', '--json', '--builder', 'podman'], { cwd: dir, env: env(), timeoutMs: 300_000 });
    expect(third.code, third.stderr).toBe(0);
    const b = envelope<BuildJson>(third).result;
    // The same build by podman again: its layer cache gives the same layers, and ferry's cache by
    // diff_id compresses none of them again.
    expect(b?.layers.filter((l) => l.source === 'build').every((l) => l.reused)).toBe(true);
    expect(b?.layers.map((l) => l.digest)).toEqual(p1?.layers.map((l) => l.digest));
  }, 400_000);

  it('native Dockerfiles still build natively under auto, with no engine on PATH', async () => {
    const dir = await project('team/native', { dockerfile: 'FROM busybox:1.36\nCOPY pipeline.py /app/\n' });
    const r = await ferry(['build', '--json'], { cwd: dir, env: env({ PATH: '/nonexistent' }) });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(envelope<BuildJson>(r).result?.builder).toBe('native');
  });

  it('no usable engine: ENGINE_NOT_FOUND (69) naming what was tried and the RUN line', async () => {
    const dir = await project('team/none');
    // An empty cache: with the prefix cached by an earlier test, a hybrid build needs no engine.
    const r = await ferry(['build', '--json'], { cwd: dir, env: env({ PATH: '/nonexistent', FERRY_CACHE_DIR: path.join(work, 'cache-empty') }) });
    expect(r.code).toBe(69);
    const e = envelope(r).error;
    expect(e?.code).toBe('ENGINE_NOT_FOUND');
    expect(e?.where).toBe('Dockerfile:6');
    expect(e?.message).toMatch(/docker: .*no-docker\.sock/);
    expect(e?.message).toMatch(/podman: podman is not on PATH/);
    expect(e?.message).toMatch(/buildah: buildah is not on PATH/);
  });

  it('an explicit engine that is missing: ENGINE_UNAVAILABLE (69) at --builder', async () => {
    const dir = await project('team/none');
    const r = await ferry(['build', '--json', '--builder', 'buildah'], { cwd: dir, env: env({ PATH: '/nonexistent' }) });
    expect(r.code).toBe(69);
    expect(envelope(r).error).toMatchObject({ code: 'ENGINE_UNAVAILABLE', where: '--builder' });
  });

  it('image.builder in ferry.yaml is used, and an unknown value is a config error at its line', async () => {
    const dir = await project('team/cfg');
    await writeFile(path.join(dir, 'ferry.yaml'), `apiVersion: ferry/v1\nimage:\n  builder: kaniko\n`);
    const r = await ferry(['build', '--json'], { cwd: dir, env: env() });
    expect(r.code).toBe(78);
    expect(envelope(r).error?.where).toMatch(/ferry\.yaml:3:\d+ \(image\.builder\)/);
  });

  it('an unknown --builder is a usage error (64)', async () => {
    const r = await ferry(['build', '--json', '--builder', 'kaniko'], { cwd: work, env: env() });
    expect(r.code).toBe(64);
  });
});

describe('engine build errors', () => {
  it('a failing RUN step: ENGINE_BUILD_FAILED (65) at its Dockerfile line, with the engine\'s own error lines', async () => {
    const dir = await project('team/fail', { dockerfile: 'FROM busybox:1.36\nWORKDIR /w\nRUN echo "disk full: cannot write /w/out" >&2; exit 3\nCOPY pipeline.py .\n' });
    const r = await ferry(['build', '--json', '--builder', 'buildah'], { cwd: dir, env: env(), timeoutMs: 300_000 });
    expect(r.code).toBe(65);
    const e = envelope(r).error;
    expect(e?.code).toBe('ENGINE_BUILD_FAILED');
    expect(e?.where).toBe('Dockerfile:3');
    expect(e?.message).toContain('disk full: cannot write /w/out');
    expect(r.stderr).toContain('disk full: cannot write /w/out');
  }, 300_000);

  it('a multi-stage failure names the line in the right stage (podman)', async () => {
    const dir = await project('team/fail2', {
      dockerfile: 'FROM busybox:1.36 AS deps\nRUN echo ok > /ok\n\nFROM deps\nRUN test -f /missing\nCOPY pipeline.py .\n',
    });
    const r = await ferry(['build', '--json', '--builder', 'podman'], { cwd: dir, env: env(), timeoutMs: 300_000 });
    expect(r.code).toBe(65);
    expect(envelope(r).error).toMatchObject({ code: 'ENGINE_BUILD_FAILED', where: 'Dockerfile:5' });
  }, 300_000);

  it('a --target stage that does not exist is refused before any engine starts', async () => {
    const dir = await project('team/target');
    const r = await ferry(['build', '--json', '--builder', 'buildah', '--target', 'tset'], { cwd: dir, env: env({ PATH: '/nonexistent' }) });
    expect(r.code).toBe(65);
    expect(envelope(r).error?.code).toBe('DOCKERFILE_STAGE_NOT_FOUND');
  });
});

describe('build secrets', () => {
  const secret = `s3cr3t-${Math.random().toString(36).slice(2)}-token`;

  it.each(['buildah', 'podman'])('%s: a secret reaches RUN but no layer, config or history, byte for byte', async (engine) => {
    const dir = await project(`team/secret-${engine}`, {
      dockerfile: 'FROM busybox:1.36\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token > /token-length && cat /run/secrets/token\nCOPY pipeline.py .\n',
    });
    const secretFile = path.join(work, `token-${engine}`);
    await writeFile(secretFile, secret);
    const out = path.join(work, `secret-layout-${engine}`);
    const r = await ferry(['build', '--json', '--builder', engine, '--secret', `id=token,src=${secretFile}`, '--output', `oci:${out}`], {
      cwd: dir,
      env: env(),
      timeoutMs: 300_000,
    });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    // The RUN step printed it; ferry's output redacts it.
    expect(r.stderr).not.toContain(secret);
    expect(r.stdout).not.toContain(secret);
    const blobs = path.join(out, 'blobs', 'sha256');
    const needle = Buffer.from(secret);
    let lengthFileSeen = false;
    for (const name of await readdir(blobs)) {
      const bytes = await readFile(path.join(blobs, name));
      const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes;
      expect(plain.includes(needle), `blob ${name}`).toBe(false);
      if (plain.includes(Buffer.from('token-length'))) lengthFileSeen = true;
    }
    // The RUN did read the secret (the image holds its length, written by RUN).
    expect(lengthFileSeen).toBe(true);
  }, 300_000);

  it('a secret file that does not exist, or a malformed --secret, is a usage error (64)', async () => {
    const dir = await project('team/secret-bad');
    const missing = await ferry(['build', '--json', '--secret', 'id=token,src=/nonexistent/token'], { cwd: dir, env: env() });
    expect(missing.code).toBe(64);
    expect(envelope(missing).error).toMatchObject({ code: 'USAGE_BAD_SECRET', where: '--secret' });
    const bad = await ferry(['build', '--json', '--secret', 'token'], { cwd: dir, env: env() });
    expect(bad.code).toBe(64);
    expect(envelope(bad).error?.code).toBe('USAGE_BAD_SECRET');
  });

  it('--ssh default forwards the SSH agent to RUN --mount=type=ssh (buildah); without an agent it is a usage error', async () => {
    const sock = path.join(work, 'agent.sock');
    const agent = await runChecked('ssh-agent', ['-a', sock]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
    try {
      const key = path.join(work, 'id_test');
      await runChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      await runChecked('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const dir = await project('team/ssh', {
        dockerfile: 'FROM busybox:1.36\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo agent-ok > /ssh-ok\nCOPY pipeline.py .\n',
      });
      const r = await ferry(['build', '--json', '--builder', 'buildah', '--ssh', 'default'], { cwd: dir, env: env({ SSH_AUTH_SOCK: sock }), timeoutMs: 300_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const none = await ferry(['build', '--json', '--builder', 'buildah', '--ssh', 'default'], { cwd: dir, env: env({ SSH_AUTH_SOCK: '' }) });
      expect(none.code).toBe(64);
      expect(envelope(none).error).toMatchObject({ code: 'USAGE_BAD_SSH', where: '--ssh' });
      const missing = await ferry(['build', '--json', '--ssh', 'default=/nonexistent/key'], { cwd: dir, env: env() });
      expect(envelope(missing).error?.code).toBe('USAGE_BAD_SSH');
    } finally {
      if (pid !== undefined) process.kill(Number(pid));
    }
  }, 300_000);
});

describe('the docker builder (the Docker Engine API, served by podman system service)', () => {
  let svc: PodmanService;
  beforeAll(async () => {
    // The daemon's own configuration marks the test registry insecure (Docker does that for
    // 127.0.0.0/8 by itself) and knows no mirror: ferry's pull through the mirror is under test.
    const conf = path.join(work, 'daemon-registries.conf');
    await writeFile(conf, `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
    svc = await startPodmanService({ env: { CONTAINERS_REGISTRIES_CONF: conf } });
  }, 60_000);
  afterAll(async () => {
    await svc.stop();
  });

  it('builds the data-pipeline example through the API, base pulled through the mirror; podman runs what ferry pushed', async () => {
    // A tag no earlier run can have left in the engine's storage, so the daemon must pull it.
    const tag = `3.11-docker-${Math.random().toString(36).slice(2, 8)}`;
    await pushLayout(reg, python.layout, 'mirror/library/python', tag);
    const dir = await project('team/pipeline-docker');
    const df = path.join(dir, 'Dockerfile');
    await writeFile(df, (await readFile(df, 'utf8')).replace('FROM python:3.11-slim', `FROM python:${tag}`));
    const r = await ferry(['push', '--json', '--builder', 'docker'], { cwd: dir, env: env({ DOCKER_HOST: svc.dockerHost }), timeoutMs: 300_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const res = envelope<PushJson & { builder?: string }>(r).result;
    expect(r.stderr).toContain('pulled through the mirror');
    expect(r.stderr).toMatch(/RUN pip install/);
    expect(res?.layers[0]?.source).toBe('base');
    const ok = await podmanRun(res?.image ?? '', [], { env: { EXIT_CODE: '3' } });
    expect(ok.stdout, ok.stderr).toContain('3 trips in data/trips.csv');
    expect(ok.code).toBe(3);
  }, 400_000);

  it('auto prefers a reachable Docker API for the prefix', async () => {
    const dir = await project('team/auto-docker');
    const r = await ferry(['build', '--json'], { cwd: dir, env: env({ DOCKER_HOST: svc.dockerHost, FERRY_CACHE_DIR: path.join(work, 'cache-docker') }), timeoutMs: 300_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(envelope<BuildJson>(r).result?.prefix?.source).toBe('docker');
  }, 300_000);

  it('auto with --secret passes over the Docker API (no BuildKit session) to podman', async () => {
    const dir = await project('team/auto-secret', { dockerfile: 'FROM busybox:1.36\nRUN --mount=type=secret,id=t test -s /run/secrets/t\nCOPY pipeline.py /app/\n' });
    const secretFile = path.join(work, 'auto-secret');
    await writeFile(secretFile, 'value-of-the-secret');
    const r = await ferry(['build', '--json', '--secret', `id=t,src=${secretFile}`], {
      cwd: dir,
      env: env({ DOCKER_HOST: svc.dockerHost, FERRY_CACHE_DIR: path.join(work, 'cache-auto-secret') }),
      timeoutMs: 300_000,
    });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(envelope<BuildJson>(r).result?.prefix?.source).toBe('podman');
  }, 300_000);

  it('a failing RUN names its line; --secret is refused; a socket nobody listens on is ENGINE_UNAVAILABLE', async () => {
    const dir = await project('team/docker-fail', { dockerfile: 'FROM busybox:1.36\nRUN echo "no such table: trips" >&2; exit 2\nCOPY pipeline.py .\n' });
    const fail = await ferry(['build', '--json', '--builder', 'docker'], { cwd: dir, env: env({ DOCKER_HOST: svc.dockerHost }), timeoutMs: 300_000 });
    expect(fail.code).toBe(65);
    expect(envelope(fail).error).toMatchObject({ code: 'ENGINE_BUILD_FAILED', where: 'Dockerfile:2' });
    expect(envelope(fail).error?.message).toContain('no such table: trips');

    const secretFile = path.join(work, 'docker-secret');
    await writeFile(secretFile, 'x');
    const secret = await ferry(['build', '--json', '--builder', 'docker', '--secret', `id=s,src=${secretFile}`], { cwd: dir, env: env({ DOCKER_HOST: svc.dockerHost }) });
    expect(secret.code).toBe(64);
    expect(envelope(secret).error).toMatchObject({ code: 'ENGINE_FEATURE_UNSUPPORTED', where: '--secret' });

    // A socket file with nothing listening on it.
    const dead = path.join(work, 'dead.sock');
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(dead, resolve));
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    await writeFile(dead, '').catch(() => undefined);
    const down = await ferry(['build', '--json', '--builder', 'docker'], { cwd: dir, env: env({ DOCKER_HOST: `unix://${dead}` }) });
    expect(down.code).toBe(69);
    expect(envelope(down).error).toMatchObject({ code: 'ENGINE_UNAVAILABLE', where: '--builder' });
    expect(envelope(down).error?.message).toContain(dead);
  }, 300_000);
});
