import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import { silentReporter } from '../../src/core/context.js';
import { resolveSettings, type RunServiceOptions } from '../../src/services/run.js';
import { caught } from '../helpers/errors.js';

const YAML = [
  'apiVersion: ferry/v1',
  'image: {name: a/b}',
  'job:',
  '  command: [/bin/app]',
  '  args: [--from-job]',
  '  env: {A: job, B: job, C: job, D: job}',
  '  resources: {cpu: "250m", memory: 1Gi}',
  '  timeout: 2m',
  'targets:',
  '  dev:',
  '    type: local',
  '    engine: podman',
  '    workdir: /target',
  '    user: "1"',
  '    network: none',
  '    volumes: [./data:/data:ro]',
  '    ports: ["8080:80"]',
  '    envFiles: [dev.env]',
  '  prod: {type: local}',
  '',
].join('\n');

async function setup(): Promise<{ dir: string; cwd: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-settings-'));
  await writeFile(path.join(dir, 'ferry.yaml'), YAML);
  await writeFile(path.join(dir, 'dev.env'), 'B=file\nC=file\nD=file\n');
  await mkdir(path.join(dir, 'data'));
  const cwd = path.join(dir, 'elsewhere');
  await mkdir(cwd);
  await writeFile(path.join(cwd, 'flag.env'), 'C=flagfile\nD=flagfile\n');
  await mkdir(path.join(cwd, 'out'));
  return { dir, cwd };
}

const base = (extra: Partial<RunServiceOptions>): RunServiceOptions => ({ command: 'deploy', targetName: 'dev', stdout: process.stdout, stderr: process.stderr, ...extra });

describe('run settings: image < job < target < flags', () => {
  it('merges job, the target and the flags, each winning over the one before', async () => {
    const { dir, cwd } = await setup();
    const loaded = await loadConfig({ configPath: path.join(dir, 'ferry.yaml'), cwd, env: {} });
    const ctx = { reporter: silentReporter, env: { FROM_FERRY: 'ferry' }, cwd };
    const s = await resolveSettings(loaded, base({}), ctx);
    expect(s).toMatchObject({ target: 'dev', engine: 'podman', timeoutMs: 120_000 });
    expect(s.spec).toMatchObject({ command: ['/bin/app'], args: ['--from-job'], workdir: '/target', user: '1', network: 'none', cpus: 0.25, memoryBytes: 2 ** 30 });
    expect(Object.fromEntries(s.spec.env)).toEqual({ A: 'job', B: 'file', C: 'file', D: 'file' });
    expect(s.spec.volumes.map((v) => v.source)).toEqual([path.join(dir, 'data')]);

    const f = await resolveSettings(
      loaded,
      base({ args: ['x'], entrypoint: 'sh', envFiles: ['flag.env'], env: ['D=flag', 'FROM_FERRY'], volumes: ['./out:/out'], workdir: '/flag', user: '2', network: 'host', engine: 'docker', publish: ['9090:90'] }),
      ctx,
    );
    expect(f).toMatchObject({ engine: 'docker' });
    expect(f.spec).toMatchObject({ command: ['sh'], args: ['x'], workdir: '/flag', user: '2', network: 'host' });
    expect(Object.fromEntries(f.spec.env)).toEqual({ A: 'job', B: 'file', C: 'flagfile', D: 'flag', FROM_FERRY: 'ferry' });
    expect(f.spec.volumes.map((v) => v.source)).toEqual([path.join(dir, 'data'), path.join(cwd, 'out')]);
    expect(f.spec.ports.map((p) => p.hostPort)).toEqual([8080, 9090]);
    // --entrypoint "" clears the ENTRYPOINT
    expect((await resolveSettings(loaded, base({ entrypoint: '' }), ctx)).spec.command).toEqual([]);
  });

  it('picks the target: a name, the only one, the implicit local, or asks', async () => {
    const { dir, cwd } = await setup();
    const ctx = { reporter: silentReporter, env: {}, cwd };
    const loaded = await loadConfig({ configPath: path.join(dir, 'ferry.yaml'), cwd, env: {} });
    expect((await resolveSettings(loaded, base({ targetName: 'prod' }), ctx)).target).toBe('prod');
    const ask = await caught(resolveSettings(loaded, base({ targetName: undefined }), ctx));
    expect([ask.code, ask.exitCode]).toEqual(['USAGE_TARGET_REQUIRED', 64]);
    const typo = await caught(resolveSettings(loaded, base({ targetName: 'dve' }), ctx));
    expect([typo.code, typo.exitCode]).toEqual(['CONFIG_UNKNOWN_TARGET', 78]);
    expect(typo.suggestions.join(' ')).toContain('ferry deploy dev');
    // ferry run: the target named "local" if any, else the implicit one
    const run = await resolveSettings(loaded, base({ command: 'run', targetName: undefined }), ctx);
    expect([run.target, run.engine, run.spec.workdir]).toEqual(['local', 'auto', undefined]);
    expect(run.spec.command).toEqual(['/bin/app']); // job still applies

    await writeFile(path.join(dir, 'plain.yaml'), 'apiVersion: ferry/v1\nimage: {name: a/b}\n');
    const plain = await loadConfig({ configPath: path.join(dir, 'plain.yaml'), cwd, env: {} });
    expect((await resolveSettings(plain, base({ targetName: undefined }), ctx)).target).toBe('local');
    expect((await resolveSettings(plain, base({ targetName: 'local' }), ctx)).target).toBe('local');
  });

  it('checks volume sources and env files before anything runs', async () => {
    const { dir, cwd } = await setup();
    const ctx = { reporter: silentReporter, env: {}, cwd };
    const loaded = await loadConfig({ configPath: path.join(dir, 'ferry.yaml'), cwd, env: {} });
    const vol = await caught(resolveSettings(loaded, base({ volumes: ['./nope:/x'] }), ctx));
    expect([vol.code, vol.exitCode, vol.where]).toEqual(['VOLUME_SOURCE_NOT_FOUND', 64, '--volume']);
    const envf = await caught(resolveSettings(loaded, base({ envFiles: ['nope.env'] }), ctx));
    expect([envf.code, envf.exitCode]).toEqual(['ENV_FILE_NOT_FOUND', 64]);
    const wd = await caught(resolveSettings(loaded, base({ workdir: 'relative' }), ctx));
    expect([wd.code, wd.exitCode]).toEqual(['USAGE_BAD_WORKDIR', 64]);
  });
});
