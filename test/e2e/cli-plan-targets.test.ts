import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/infra/process.js';
import { envelope, ferry, REPO_ROOT } from '../helpers/cli.js';
import { makeBaseImage } from '../helpers/images.js';
import { podmanEnv } from '../helpers/podman.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * `ferry plan` shows what deploy would send and changes nothing (the image is not loaded, no
 * container is made); `ferry targets` lists the kinds and ferry.yaml's targets.
 */
let reg: TestRegistry;
let work: string;
let baseEnv: Record<string, string>;

interface PlanJson {
  target: string;
  type: string;
  engine: string;
  image: { ref: string; digest: string; configDigest: string; platform: string };
  requests: { service: string; action: string; payload: { argv?: string[]; env?: Record<string, string> } | null }[];
  notes: string[];
}

const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  ...baseEnv,
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  DOCKER_CONFIG: path.join(work, 'empty-docker-config'),
  DOCKER_HOST: '',
  ...extra,
});

async function project(targets = ''): Promise<string> {
  const dir = await mkdtemp(path.join(work, 'proj-'));
  await cp(path.join(REPO_ROOT, 'examples', 'hello-busybox'), dir, { recursive: true });
  await writeFile(
    path.join(dir, 'ferry.yaml'),
    `apiVersion: ferry/v1\nimage:\n  name: ${reg.host}/team/plan\nregistries:\n  "${reg.host}": {insecure: true}\n  mirrors:\n    docker.io: ${reg.host}/mirror\njob:\n  env: {STAGE: test}\n  timeout: 5m\n${targets}`,
  );
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-plan-'));
  await mkdir(path.join(work, 'empty-docker-config'));
  baseEnv = await podmanEnv();
  reg = await startRegistry({ mode: 'open' });
  await makeBaseImage(reg, 'mirror/library/busybox', '1.36');
}, 120_000);

afterAll(async () => {
  await reg.stop();
});

describe('ferry plan', () => {
  it('prints the podman create it would run, with the image pinned, and loads or creates nothing', async () => {
    const dir = await project();
    // A label no other run has used: an image ID no engine can have yet.
    const unique = Math.random().toString(36).slice(2);
    const r = await ferry(['plan', '--json', '--engine', 'podman', '--label', `plan-test=${unique}`, '-e', 'LEVEL=debug', '--', 'data/other.csv'], {
      cwd: dir,
      env: env(),
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const p = envelope<PlanJson>(r).result;
    expect(p).toMatchObject({ target: 'local', type: 'local', engine: 'podman' });
    expect(p?.image.configDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(p?.image.ref).toBe(`${reg.host}/team/plan@${p?.image.digest ?? ''}`);
    expect(p?.requests.map((q) => q.action)).toEqual(['load image', 'create', 'start --attach, then wait and rm']);
    const create = p?.requests[1]?.payload;
    expect(create?.argv).toContain(p?.image.configDigest);
    expect(create?.argv?.slice(-1)).toEqual(['data/other.csv']);
    expect(create?.env).toMatchObject({ STAGE: 'test', LEVEL: 'debug' });
    expect(p?.notes.join(' ')).toContain('job.timeout');
    // Nothing happened on the engine.
    const exists = await runProcess('podman', ['image', 'exists', p?.image.configDigest ?? ''], { env: baseEnv });
    expect(exists.code).toBe(1);
    const ps = await runProcess('podman', ['ps', '-a', '--filter', `label=dev.ferry.target=local`, '--format', '{{.Names}}'], { env: baseEnv });
    expect(ps.stdout).not.toContain('XXXXXXXX');
  }, 180_000);

  it('an unknown target is CONFIG_UNKNOWN_TARGET (78) with a did-you-mean', async () => {
    const dir = await project('targets:\n  dev: {type: local}\n');
    const r = await ferry(['plan', 'dve', '--json'], { cwd: dir, env: env() });
    expect(r.code).toBe(78);
    expect(envelope(r).error?.code).toBe('CONFIG_UNKNOWN_TARGET');
    expect(envelope(r).error?.suggestions.join(' ')).toContain('dev');
  });
});

describe('ferry targets', () => {
  it('lists the kinds with their capabilities, and no configured targets without a ferry.yaml', async () => {
    const empty = await mkdtemp(path.join(work, 'empty-'));
    const r = await ferry(['targets', '--json'], { cwd: empty, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const t = envelope<{ kinds: { type: string; capabilities: Record<string, boolean> }[]; configured: unknown }>(r).result;
    expect(t?.kinds.find((k) => k.type === 'local')?.capabilities).toMatchObject({ plan: true, deploy: true });
    expect(t?.configured).toBeNull();
  });

  it("lists ferry.yaml's targets, or the implicit local one", async () => {
    const withTargets = await project('targets:\n  dev: {type: local, engine: podman}\n  ci: {type: local}\n');
    const a = envelope<{ configured: { name: string; implicit: boolean }[] }>(await ferry(['targets', '--json'], { cwd: withTargets, env: env() })).result;
    expect(a?.configured.map((c) => c.name)).toEqual(['dev', 'ci']);
    const none = await project();
    const b = envelope<{ configured: { name: string; implicit: boolean }[] }>(await ferry(['targets', '--json'], { cwd: none, env: env() })).result;
    expect(b?.configured).toEqual([{ name: 'local', type: 'local', implicit: true }]);
  });
});
