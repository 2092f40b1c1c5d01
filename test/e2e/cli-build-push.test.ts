import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runProcess } from '../../src/infra/process.js';
import { envelope, ferry, REPO_ROOT } from '../helpers/cli.js';
import { makeBaseImage, type BaseImage } from '../helpers/images.js';
import { podmanRun } from '../helpers/podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * The whole path a user takes: ferry.yaml + Dockerfile → `ferry build` (OCI layout) → `ferry push`
 * to a real registry → the pushed image checked by skopeo and run by podman.
 */
let reg: TestRegistry;
let base: BaseImage;
let work: string;
let cacheDir: string;

interface PushJson {
  image: string;
  digest: string;
  tags: string[];
  blobs: { uploaded: number; skipped: number; mounted: number };
  bytesUploaded: number;
  requests: number;
}
interface BuildJson {
  digest: string;
  layout: string;
  layers: { digest: string; size: number; reused: boolean; source: string }[];
}

async function example(name: string, registryHost: string): Promise<string> {
  const dir = await mkdtemp(path.join(work, `${name}-`));
  await cp(path.join(REPO_ROOT, 'examples', name), dir, { recursive: true });
  const cfg = (await readFile(path.join(dir, 'ferry.yaml'), 'utf8')).replaceAll('127.0.0.1:5000', registryHost);
  await writeFile(path.join(dir, 'ferry.yaml'), cfg);
  return dir;
}

const env = (): Record<string, string> => ({ FERRY_CACHE_DIR: cacheDir, DOCKER_CONFIG: path.join(work, 'no-docker-config') });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-cli-'));
  cacheDir = path.join(work, 'cache');
  reg = await startRegistry({ mode: 'open' });
  base = await makeBaseImage(reg, 'library/busybox', '1.36');
});

afterAll(async () => {
  await reg.stop();
});

describe('ferry build', () => {
  it('builds the FROM scratch example with no registry and no Docker, into a layout skopeo reads', async () => {
    const dir = await example('sql-bundle', '127.0.0.1:1');
    const r = await ferry(['build', '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = envelope<BuildJson>(r);
    expect(out.status).toBe(0);
    const result = out.result;
    expect(result?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result?.layout).toBe(path.join(dir, '.ferry', 'oci'));
    expect(result?.layers).toHaveLength(2);
    const inspect = JSON.parse((await runChecked('skopeo', ['inspect', `oci:${path.join(dir, '.ferry', 'oci')}`])).stdout) as {
      Digest: string;
      Labels: Record<string, string>;
      Env: string[];
      Architecture: string;
    };
    expect(inspect.Digest).toBe(result?.digest);
    expect(inspect.Labels['org.opencontainers.image.version']).toBe('2026.11');
    expect(inspect.Env).toContain('RELEASE=2026.11');
    expect(inspect.Architecture).toBe('amd64');
    // .dockerignore keeps notes and scratch files out.
    const config = JSON.parse((await runChecked('skopeo', ['inspect', '--config', `oci:${path.join(dir, '.ferry', 'oci')}`])).stdout) as {
      config: { WorkingDir: string; Cmd: string[]; Volumes: Record<string, unknown> };
    };
    expect(config.config.WorkingDir).toBe('/sql');
    expect(config.config.Cmd).toEqual(['/sql']);
    expect(Object.keys(config.config.Volumes)).toEqual(['/sql']);
  });

  it('prints only the digest on stdout without --json, and reuses cached layers the second time', async () => {
    const dir = await example('sql-bundle', '127.0.0.1:1');
    const first = await ferry(['build'], { cwd: dir, env: env() });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const second = await ferry(['build', '--json'], { cwd: dir, env: env() });
    const result = envelope<BuildJson>(second).result;
    expect(result?.digest).toBe(first.stdout.trim());
    expect(result?.layers.every((l) => l.reused)).toBe(true);
    const fresh = envelope<BuildJson>(await ferry(['build', '--json', '--no-cache'], { cwd: dir, env: env() })).result;
    expect(fresh?.digest).toBe(first.stdout.trim());
    expect(fresh?.layers.some((l) => l.reused)).toBe(false);
  });

  it('follows .dockerignore with ! exceptions, writes --output oci:DIR, and reports Dockerfile warnings', async () => {
    const dir = await example('sql-bundle', '127.0.0.1:1');
    await writeFile(path.join(dir, 'sql', 'scratch.tmp'), 'x');
    await writeFile(path.join(dir, 'sql', 'keep.tmp'), 'kept by an exception');
    await mkdir(path.join(dir, 'sql', 'notes'), { recursive: true });
    await writeFile(path.join(dir, 'sql', 'notes', 'todo.md'), 'x');
    await writeFile(path.join(dir, '.dockerignore'), '*.tmp\n**/*.tmp\n!sql/keep.tmp\n**/notes/\n');
    // Single quotes are not JSON, so Docker takes this as shell form: it works, with a warning.
    await writeFile(path.join(dir, 'Dockerfile'), "FROM scratch\nCOPY sql/ /sql/\nCMD ['/sql']\n");
    const out = path.join(work, `layout-${Date.now()}`);
    const r = await ferry(['build', '--json', '--output', `oci:${out}`], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const res = envelope<BuildJson>(r);
    expect(res.result?.layout).toBe(out);
    expect(res.warnings?.join(' ')).toMatch(/Dockerfile:3/);
    const layer = res.result?.layers[0]?.digest.replace('sha256:', '') ?? '';
    const listing = (await runChecked('tar', ['-tzf', path.join(out, 'blobs', 'sha256', layer)])).stdout.split('\n').filter(Boolean).sort();
    expect(listing).toEqual(['sql/', 'sql/01_schema.sql', 'sql/02_daily.sql', 'sql/keep.tmp']);
    const cfg = JSON.parse((await runChecked('skopeo', ['inspect', '--config', `oci:${out}`])).stdout) as { config: { Cmd: string[] } };
    expect(cfg.config.Cmd).toEqual(['/bin/sh', '-c', "['/sql']"]);
  });

  it('keeps its own output out of the context: building `COPY . .` twice gives the same digest', async () => {
    const dir = await example('sql-bundle', '127.0.0.1:1');
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /app/\n');
    const first = await ferry(['build'], { cwd: dir, env: env() });
    const second = await ferry(['build'], { cwd: dir, env: env() });
    expect(first.code, first.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const out = path.join(dir, 'layout-inside-context');
    const third = await ferry(['build', '--output', `oci:${out}`], { cwd: dir, env: env() });
    const fourth = await ferry(['build', '--output', `oci:${out}`], { cwd: dir, env: env() });
    expect(third.stdout).toBe(first.stdout);
    expect(fourth.stdout).toBe(first.stdout);
  });

  it('--builder native refuses a Dockerfile with RUN, naming the line and the engine builders', async () => {
    const dir = await example('sql-bundle', '127.0.0.1:1');
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY sql/ /sql/\nRUN echo hi\n');
    const r = await ferry(['build', '--json', '--builder', 'native'], { cwd: dir, env: env() });
    expect(r.code).toBe(65);
    const e = envelope(r).error;
    expect(e?.code).toBe('NATIVE_UNSUPPORTED');
    expect(e?.where).toBe('Dockerfile:3');
    expect(e?.suggestions.join(' ')).toMatch(/buildah|podman|docker/);
  });
});

describe('ferry push', () => {
  it('pushes an image on a registry base: base layer mounted, not copied; skopeo reads it; podman runs it', async () => {
    const dir = await example('hello-busybox', reg.host);
    const r = await ferry(['push', '--json', '--build-arg', `BASE=${base.ref}`, '--tag', 'v1'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = envelope<PushJson>(r);
    const res = out.result;
    expect(res?.image).toBe(`${reg.host}/examples/hello-busybox@${res?.digest ?? ''}`);
    expect(res?.tags.sort()).toEqual(['latest', 'v1']);
    expect(res?.blobs.mounted).toBe(1); // the busybox layer, from library/busybox on the same registry
    expect(res?.blobs.uploaded).toBe(3); // two COPY layers and the config
    expect(res?.bytesUploaded).toBeGreaterThan(0);

    const inspect = JSON.parse((await runChecked('skopeo', ['inspect', '--tls-verify=false', `docker://${res?.image ?? ''}`])).stdout) as {
      Digest: string;
      Layers: string[];
    };
    expect(inspect.Digest).toBe(res?.digest);
    expect(inspect.Layers).toHaveLength(3);
    const tagged = JSON.parse((await runChecked('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/examples/hello-busybox:v1`])).stdout) as { Digest: string };
    expect(tagged.Digest).toBe(res?.digest);

    const run = await podmanRun(res?.image ?? '');
    expect(run.stdout.trim(), run.stderr).toBe('hello from ferry: 3 trips in data/trips.csv');
    expect(run.code).toBe(0);
    const failing = await podmanRun(res?.image ?? '', [], { env: { EXIT_CODE: '3' } });
    expect(failing.code).toBe(3);
  });

  it('re-pushes an unchanged image with no blob uploads', async () => {
    const dir = await example('hello-busybox', reg.host);
    // A repository of its own, so the first push here really uploads.
    const args = ['push', '--json', '--build-arg', `BASE=${base.ref}`, '--image', `${reg.host}/examples/repush`];
    const first = envelope<PushJson>(await ferry(args, { cwd: dir, env: env() })).result;
    const again = await ferry(args, { cwd: dir, env: env() });
    expect(again.code, again.stderr).toBe(0);
    const res = envelope<PushJson>(again).result;
    expect(res?.digest).toBe(first?.digest);
    expect(res?.blobs.uploaded).toBe(0);
    expect(res?.bytesUploaded).toBe(0);
    expect(res?.blobs.skipped).toBe(4);
    // The manifest is there by digest, so no blob is even HEADed: one HEAD and the tag PUT.
    expect(res?.requests).toBeLessThanOrEqual(3);
    expect(res?.requests).toBeLessThan(first?.requests ?? 0);
  });

  it('gives the same digest from another checkout path and at another time', async () => {
    const a = await example('hello-busybox', reg.host);
    const b = await example('hello-busybox', reg.host);
    const ra = await ferry(['build', '--build-arg', `BASE=${base.ref}`], { cwd: a, env: env() });
    const rb = await ferry(['build', '--build-arg', `BASE=${base.ref}`], { cwd: b, env: { ...env(), FERRY_CACHE_DIR: path.join(work, 'other-cache') } });
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.stdout).toBe(ra.stdout);
  });

  it('fails with exit 69 and REGISTRY_UNREACHABLE-style code when nothing listens', async () => {
    const dir = await example('sql-bundle', '127.0.0.1:9');
    const r = await ferry(['push', '--json'], { cwd: dir, env: env() });
    expect(r.code).toBe(69);
    expect(envelope(r).error?.code).toMatch(/^REGISTRY_/);
    expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace without --debug
  });

  it('needs image.name to push', async () => {
    const dir = await example('sql-bundle', reg.host);
    const cfg = (await readFile(path.join(dir, 'ferry.yaml'), 'utf8')).replace(/^ {2}name: .*$/m, '');
    await writeFile(path.join(dir, 'ferry.yaml'), cfg);
    const r = await ferry(['push', '--json'], { cwd: dir, env: env() });
    expect(r.code).toBe(78);
    expect(envelope(r).error?.code).toBe('CONFIG_MISSING_IMAGE_NAME');
  });
});

describe('output contract', () => {
  it('answers unknown flags and commands with exit 64 and one JSON envelope', async () => {
    const r1 = await ferry(['build', '--bogus', '--json']);
    expect(r1.code).toBe(64);
    expect(envelope(r1).error?.code).toMatch(/^USAGE/);
    const r2 = await ferry(['nonsense', '--json']);
    expect(r2.code).toBe(64);
    expect(envelope(r2).status).toBe(64);
  });

  it('reports a config typo with file, line and the nearest key', async () => {
    const dir = await mkdtemp(path.join(work, 'typo-'));
    await writeFile(path.join(dir, 'ferry.yaml'), 'apiVersion: ferry/v1\nimage:\n  name: a/b\n  platfrom: linux/amd64\n');
    const r = await ferry(['config', 'validate', '--json'], { cwd: dir });
    expect(r.code).toBe(78);
    const e = envelope(r).error;
    expect(e?.code).toBe('CONFIG_UNKNOWN_KEY');
    expect(e?.where).toContain('ferry.yaml:4:3');
    expect(e?.suggestions.join(' ')).toContain('"platform"');
  });

  it('validates the Dockerfile too: syntax errors fail, engine-only steps are reported (an error with image.builder: native)', async () => {
    const dir = await mkdtemp(path.join(work, 'validate-'));
    await writeFile(path.join(dir, 'ferry.yaml'), 'apiVersion: ferry/v1\nimage: {name: a/b}\n');
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nRUN make\n');
    const ok = await ferry(['config', 'validate', '--json'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(envelope<{ needsEngine: boolean }>(ok).result?.needsEngine).toBe(true);
    expect(ok.stderr).toMatch(/Dockerfile:2: RUN needs an engine/);
    await writeFile(path.join(dir, 'ferry.yaml'), 'apiVersion: ferry/v1\nimage: {name: a/b, builder: native}\n');
    const native = await ferry(['config', 'validate', '--json'], { cwd: dir });
    expect(native.code).toBe(78);
    expect(envelope(native).error).toMatchObject({ code: 'CONFIG_BUILDER_CANNOT_BUILD' });
    expect(envelope(native).error?.where).toMatch(/ferry\.yaml \(image\.builder\)$/);
    // A heredoc is for an engine to build; an unterminated one is a syntax error for everyone.
    await writeFile(path.join(dir, 'ferry.yaml'), 'apiVersion: ferry/v1\nimage: {name: a/b}\n');
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n');
    const heredoc = await ferry(['config', 'validate', '--json'], { cwd: dir });
    expect(heredoc.code, heredoc.stdout).toBe(0);
    expect(envelope<{ needsEngine: boolean }>(heredoc).result?.needsEngine).toBe(true);
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY <<EOF /x\nhi\n');
    const bad = await ferry(['config', 'validate', '--json'], { cwd: dir });
    expect(bad.code).toBe(65);
    expect(envelope(bad).error).toMatchObject({ code: 'DOCKERFILE_HEREDOC', where: 'Dockerfile:2' });
  });

  it('shows the exit-code table in --help', async () => {
    const r = await ferry(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('EXIT CODES');
    expect(r.stdout).toMatch(/78\s+configuration error/);
    const v = await runProcess(process.execPath, [path.join(REPO_ROOT, 'bin', 'run.js'), '--version']);
    expect(v.stdout).toMatch(/^ferry\/\d+\.\d+\.\d+/);
  });
});
