import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runProcess } from '../../src/infra/process.js';
import { envelope, ferry, REPO_ROOT, type CliResult } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeBaseImage, type BaseImage } from '../helpers/images.js';
import { podmanRun } from '../helpers/podman.js';
import { skopeoCreds, startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * `ferry push` against registries that ask for credentials (the Docker Hub token flow and basic
 * auth), against a base image on another registry, and through a proxy that injects faults.
 */
let open: TestRegistry;
let token: TestRegistry;
let basic: TestRegistry;
let proxy: FaultProxy;
let base: BaseImage;
let multiBase: BaseImage;
let work: string;

interface PushJson {
  image: string;
  digest: string;
  tags: string[];
  platform: string;
  blobs: { uploaded: number; skipped: number; mounted: number };
}

const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  REGISTRY_AUTH_FILE: path.join(work, 'no-auth.json'),
  ...extra,
});

async function project(dockerfile: string, name: string, extraConfig = ''): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await cp(path.join(REPO_ROOT, 'examples', 'hello-busybox'), dir, { recursive: true });
  await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${name}\n  tags: [latest]\nregistries:\n${[open, token, basic]
      .map((r) => `  "${r.host}": {insecure: true}\n`)
      .join('')}  "${proxy.host}": {insecure: true}\n${extraConfig}`,
  );
  return dir;
}

function noSecrets(r: CliResult, secrets: string[]): void {
  for (const s of secrets) {
    expect(r.stdout).not.toContain(s);
    expect(r.stderr).not.toContain(s);
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-reg-'));
  [open, token, basic] = await Promise.all([startRegistry({ mode: 'open' }), startRegistry({ mode: 'token' }), startRegistry({ mode: 'htpasswd' })]);
  proxy = await startFaultProxy(open.url);
  base = await makeBaseImage(open, 'library/busybox', '1.36');
  multiBase = await makeBaseImage(open, 'library/busybox-multi', '1.36', { multiPlatform: true });
});

afterAll(async () => {
  await proxy.stop();
  await Promise.all([open.stop(), token.stop(), basic.stop()]);
});

describe('credentials', () => {
  it('pushes to a token-auth registry with --username/--password-stdin, and never prints the secret, --debug included', async () => {
    const dir = await project(`FROM ${base.ref}\nCOPY pipeline.sh /app/\n`, `${token.host}/team/app`);
    const r = await ferry(['push', '--json', '--debug', '--username', token.username, '--password-stdin'], {
      cwd: dir,
      env: env(),
      stdin: `${token.password}\n`,
    });
    expect(r.code, r.stderr).toBe(0);
    const res = envelope<PushJson>(r).result;
    // The base lives on another registry: its layer is streamed across, not mounted.
    expect(res?.blobs.mounted).toBe(0);
    expect(res?.blobs.uploaded).toBe(3);
    expect(r.stderr).toContain('debug:'); // --debug really logged requests
    noSecrets(r, [token.password, Buffer.from(`${token.username}:${token.password}`).toString('base64')]);
    expect(r.stderr).not.toMatch(/Bearer [A-Za-z0-9._-]{20,}/);
    const inspect = await runChecked('skopeo', ['inspect', '--tls-verify=false', ...skopeoCreds(token), `docker://${res?.image ?? ''}`]);
    expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(res?.digest);
    const run = await podmanRun(res?.image ?? '', ['sh', '-c', 'head -1 /app/pipeline.sh'], { creds: `${token.username}:${token.password}` });
    expect(run.stdout.trim(), run.stderr).toBe('#!/bin/sh');
  });

  it('refuses a wrong password with exit 77 and a login hint, without echoing it', async () => {
    const dir = await project(`FROM scratch\nCOPY pipeline.sh /app/\n`, `${token.host}/team/app`);
    const canary = 'canary-Wr0ngPassw0rd-7f3a';
    const r = await ferry(['push', '--json', '--debug', '--username', token.username, '--password-stdin'], { cwd: dir, env: env(), stdin: canary });
    expect(r.code).toBe(77);
    const e = envelope(r).error;
    expect(e?.code).toBe('REGISTRY_AUTH_FAILED');
    expect(e?.suggestions.join(' ')).toMatch(/login|--username/);
    noSecrets(r, [canary]);
  });

  it('uses ~/.docker/config.json auths for a basic-auth registry', async () => {
    const dockerConfig = path.join(work, 'docker-config');
    await mkdir(dockerConfig, { recursive: true });
    const auth = Buffer.from(`${basic.username}:${basic.password}`).toString('base64');
    await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [basic.host]: { auth } } }));
    const dir = await project(`FROM scratch\nCOPY data/ /data/\n`, `${basic.host}/team/data`);
    const r = await ferry(['push', '--json', '--debug'], { cwd: dir, env: env({ DOCKER_CONFIG: dockerConfig }) });
    expect(r.code, r.stderr).toBe(0);
    noSecrets(r, [basic.password, auth]);
    const image = envelope<PushJson>(r).result?.image ?? '';
    const inspect = await runChecked('skopeo', ['inspect', '--tls-verify=false', ...skopeoCreds(basic), `docker://${image}`]);
    expect((JSON.parse(inspect.stdout) as { Layers: string[] }).Layers).toHaveLength(1);
    const anon = await ferry(['push', '--json'], { cwd: dir, env: env() });
    expect(anon.code).toBe(77);
  });
});

describe('images', () => {
  it('builds multi-stage Dockerfiles with COPY --from a stage and from an image', async () => {
    const dockerfile = [
      'FROM scratch AS data',
      'COPY data/ /srv/data/',
      `FROM ${base.ref} AS tools`,
      'FROM scratch',
      'COPY --from=data /srv/data/trips.csv /trips.csv',
      'COPY --from=tools /bin/busybox /bin/busybox',
      `COPY --from=${base.ref} /bin/busybox /bin/sh`,
      'ENTRYPOINT ["/bin/busybox", "wc", "-l", "/trips.csv"]',
      '',
    ].join('\n');
    const dir = await project(dockerfile, `${open.host}/team/multistage`);
    const r = await ferry(['push', '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const res = envelope<PushJson>(r).result;
    const run = await podmanRun(res?.image ?? '');
    expect(run.stdout.trim(), run.stderr).toBe('4 /trips.csv');
  });

  it('builds on a Docker schema 2 base and pushes an OCI image podman runs', async () => {
    await runChecked('skopeo', ['copy', '--format', 'v2s2', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${base.ref}`, `docker://${open.host}/library/busybox-v2s2:1.36`]);
    const dir = await project(`FROM ${open.host}/library/busybox-v2s2:1.36\nCOPY pipeline.sh /app/\nCMD ["/bin/sh", "-c", "echo v2s2 ok"]\n`, `${open.host}/team/from-v2s2`);
    const r = await ferry(['push', '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const res = envelope<PushJson>(r).result;
    expect(res?.blobs.mounted).toBe(1);
    const raw = JSON.parse((await runChecked('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${res?.image ?? ''}`])).stdout) as {
      mediaType: string;
      layers: { mediaType: string }[];
    };
    expect(raw.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(raw.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
    const run = await podmanRun(res?.image ?? '');
    expect(run.stdout.trim(), run.stderr).toBe('v2s2 ok');
  });

  it('reads docker.io base images through registries.mirrors, and says so when the mirror lacks one', async () => {
    await runChecked('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${base.ref}`, `docker://${open.host}/mirror/library/busybox:1.36`]);
    const mirrors = `  mirrors:\n    docker.io: ${open.host}/mirror\n`;
    const dir = await project('FROM busybox:1.36\nCOPY pipeline.sh /app/\nCMD ["/bin/sh", "-c", "echo via mirror"]\n', `${open.host}/team/mirrored`, mirrors);
    const r = await ferry(['push', '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`from ${open.host}/mirror/library/busybox`);
    const res = envelope<PushJson>(r).result;
    expect(res?.blobs.mounted).toBe(1); // the base layer, mounted from the mirror repository
    const run = await podmanRun(res?.image ?? '');
    expect(run.stdout.trim(), run.stderr).toBe('via mirror');
    const cfg = JSON.parse((await runChecked('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${res?.image ?? ''}`])).stdout) as {
      annotations: Record<string, string>;
    };
    expect(cfg.annotations['org.opencontainers.image.base.name']).toBe('busybox:1.36');

    const missing = await project('FROM busybox:0.0-not-mirrored\nCOPY pipeline.sh /app/\n', `${open.host}/team/mirrored`, mirrors);
    const m = await ferry(['build', '--json'], { cwd: missing, env: env() });
    expect(m.code).toBe(65);
    const e = envelope(m).error;
    expect(e?.code).toBe('REGISTRY_NOT_FOUND');
    expect(e?.message).toContain('docker.io itself is unreachable');
    expect(e?.suggestions.join(' ')).toContain('registries.mirrors');
  });

  it('picks the platform from a multi-platform base index', async () => {
    const dir = await project(`FROM ${multiBase.ref}\nCOPY pipeline.sh /app/\n`, `${open.host}/team/multi`);
    const amd = await ferry(['build', '--json'], { cwd: dir, env: env() });
    expect(amd.code, amd.stderr).toBe(0);
    const arm = await ferry(['build', '--json', '--platform', 'linux/arm64'], { cwd: dir, env: env() });
    expect(arm.code, arm.stderr).toBe(0);
    const cfg = JSON.parse((await runChecked('skopeo', ['inspect', '--config', `oci:${path.join(dir, '.ferry', 'oci')}`])).stdout) as { architecture: string };
    expect(cfg.architecture).toBe('arm64');
    const bad = await ferry(['build', '--json', '--platform', 'linux/s390x'], { cwd: dir, env: env() });
    expect(bad.code).toBe(65);
    expect(envelope(bad).error?.code).toBe('BASE_PLATFORM_NOT_FOUND');
  });
});

describe('faults', () => {
  it('completes a push through a connection reset mid-blob and a 429 with Retry-After', async () => {
    const dir = await project(`FROM scratch\nCOPY data/ /data/\nCOPY pipeline.sh /app/\n`, `${proxy.host}/team/faulty`);
    proxy.setRules([
      { method: 'PUT', path: /\/blobs\/uploads\//, action: { kind: 'reset', afterBytes: 10 } },
      { method: 'HEAD', path: /\/blobs\//, action: { kind: 'status', status: 429, headers: { 'Retry-After': '1' } } },
      { method: 'POST', path: /\/blobs\/uploads\//, action: { kind: 'status', status: 500 }, times: 2 },
    ]);
    const r = await ferry(['push', '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.fired).toEqual([1, 1, 2]);
    const res = envelope<PushJson>(r).result;
    const inspect = await runChecked('skopeo', ['inspect', '--tls-verify=false', `docker://${open.host}/team/faulty:latest`]);
    expect((JSON.parse(inspect.stdout) as { Digest: string }).Digest).toBe(res?.digest);
  });

  it('gives up on a registry that keeps failing with exit 75 and writes no tag', async () => {
    const dir = await project(`FROM scratch\nCOPY pipeline.sh /app/\n`, `${proxy.host}/team/broken`);
    proxy.setRules([{ method: 'PUT', path: /\/manifests\//, action: { kind: 'status', status: 503 }, times: Infinity }]);
    const r = await ferry(['push', '--json'], { cwd: dir, env: env() });
    proxy.setRules([]);
    expect(r.code).toBe(75);
    expect(envelope(r).error?.code).toBe('REGISTRY_UNAVAILABLE');
    const tag = await runProcess('skopeo', ['inspect', '--tls-verify=false', `docker://${open.host}/team/broken:latest`]);
    expect(tag.code).not.toBe(0);
    expect(tag.stderr).toMatch(/manifest unknown|not found/i);
  });
});

describe('bad input', () => {
  it('rejects bad image names and tags in ferry.yaml with exit 78', async () => {
    for (const [name, code] of [
      ['Registry.example.com/Team/App', 'IMAGE_REF_INVALID'],
      ['registry.example.com/team/app:v1', 'CONFIG_IMAGE_NAME_HAS_TAG'],
      ['registry.example.com/team/app@sha256:abc', 'IMAGE_REF_INVALID'],
    ] as const) {
      const dir = await project('FROM scratch\nCOPY pipeline.sh /\n', name);
      const r = await ferry(['config', 'validate', '--json'], { cwd: dir, env: env() });
      expect(r.code, name).toBe(78);
      expect(envelope(r).error?.code, name).toBe(code);
      expect(envelope(r).error?.where, name).toContain('image.name');
    }
    const dir = await project('FROM scratch\nCOPY pipeline.sh /\n', `${open.host}/a/b`);
    const badTag = await ferry(['push', '--json', '--tag', '-bad'], { cwd: dir, env: env() });
    expect(badTag.code).toBe(64);
    expect(envelope(badTag).error).toMatchObject({ code: 'IMAGE_REF_INVALID', where: '--tag' });
    const badPlatform = await ferry(['build', '--json', '--platform', 'linux/amd65'], { cwd: dir, env: env() });
    expect(badPlatform.code).toBe(64);
    expect(envelope(badPlatform).error).toMatchObject({ code: 'IMAGE_BAD_PLATFORM', where: '--platform' });
    const badImage = await ferry(['push', '--json', '--image', 'Bad/Name'], { cwd: dir, env: env() });
    expect(badImage.code).toBe(64);
    expect(envelope(badImage).error).toMatchObject({ code: 'IMAGE_REF_INVALID', where: '--image' });
  });

  it('names a missing Dockerfile stage and a missing COPY source', async () => {
    const dir = await project('FROM scratch\nCOPY --from=nope /x /x\n', `${open.host}/a/b`);
    const r = await ferry(['build', '--json', '--target', 'missing'], { cwd: dir, env: env() });
    expect(r.code).toBe(65);
    expect(envelope(r).error?.code).toBe('DOCKERFILE_STAGE_NOT_FOUND');
    const dir2 = await project('FROM scratch\nCOPY nothing-here.txt /x\n', `${open.host}/a/b`);
    const r2 = await ferry(['build', '--json'], { cwd: dir2, env: env() });
    expect(r2.code).toBe(65);
    expect(envelope(r2).error).toMatchObject({ code: 'COPY_SOURCE_NOT_FOUND', where: 'Dockerfile:2' });
  });

  it('refuses a context symlink that leads outside the context', async () => {
    const dir = await project('FROM scratch\nCOPY . /app/\n', `${open.host}/a/b`);
    await runChecked('ln', ['-s', '../../../etc/passwd', path.join(dir, 'data', 'passwd')]);
    const r = await ferry(['build', '--json'], { cwd: dir, env: env() });
    expect(r.code).toBe(65);
    expect(envelope(r).error?.code).toBe('CONTEXT_SYMLINK_ESCAPE');
    expect(await readFile(path.join(dir, 'ferry.yaml'), 'utf8')).toContain('apiVersion');
  });
});
