import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText, type ConfigIssue } from '../../src/config/loader.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { FerryError } from '../../src/core/errors.js';

const badDir = path.join(import.meta.dirname, '../fixtures/configs/bad');
const expected = JSON.parse(readFileSync(path.join(badDir, 'expected.json'), 'utf8')) as Record<
  string,
  { code: string; line?: number; column?: number; path?: string; suggest?: string }
>;

function parseError(text: string, display: string): FerryError {
  try {
    parseConfigText(text, display);
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw e;
  }
  throw new Error(`${display} parsed without error`);
}

describe('ferry.yaml validation', () => {
  it('accepts the example from the issue and applies defaults', () => {
    const cfg = parseConfigText(
      [
        'apiVersion: ferry/v1',
        'image:',
        '  name: registry.example.com/team/taxi-ingest',
        '  context: .',
        '  tags: [latest]',
        '  buildArgs: {PYTHON_VERSION: "3.12", N: 3}',
        'registries:',
        '  "127.0.0.1:5000": {insecure: true}',
      ].join('\n'),
      'ferry.yaml',
    );
    expect(cfg.image.platform).toBe('linux/amd64');
    expect(cfg.image.dockerfile).toBe('Dockerfile');
    expect(cfg.image.buildArgs).toEqual({ PYTHON_VERSION: '3.12', N: '3' });
    expect(cfg.registries['127.0.0.1:5000']?.insecure).toBe(true);
  });

  it('covers every file in the bad corpus', () => {
    const files = readdirSync(badDir).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });

  for (const [file, want] of Object.entries(expected)) {
    it(`rejects ${file} with ${want.code}`, () => {
      const err = parseError(readFileSync(path.join(badDir, file), 'utf8'), file);
      expect(err.code).toBe(want.code);
      expect(err.exitCode).toBe(78);
      expect(err.where).toContain(file);
      if (want.line !== undefined) expect(err.where).toContain(`${file}:${want.line}:`);
      if (want.column !== undefined) expect(err.where).toContain(`:${want.line ?? ''}:${want.column}`);
      const issues = (err.details?.['issues'] ?? []) as ConfigIssue[];
      if (want.path !== undefined) expect(issues.map((i) => i.path)).toContain(want.path);
      if (want.suggest !== undefined) expect(err.suggestions.join(' ')).toContain(`"${want.suggest}"`);
      expect(err.suggestions.length).toBeGreaterThan(0);
    });
  }

  it('lists every problem, not just the first', () => {
    const err = parseError('apiVersion: ferry/v1\nimage:\n  nme: a\n  contxt: b\n', 'f.yaml');
    const issues = (err.details?.['issues'] ?? []) as ConfigIssue[];
    expect(issues.map((i) => i.path).sort()).toEqual(['image.contxt', 'image.nme']);
    expect(issues.find((i) => i.path === 'image.contxt')?.line).toBe(4);
  });
});

describe('loadConfig', () => {
  it('resolves paths relative to the file and applies flag and env overrides', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cfg-'));
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'sub', 'ferry.yaml'), 'apiVersion: ferry/v1\nimage:\n  name: a/b\n  context: ctx\n  tags: [x]\n  buildArgs: {A: "1", B: "2"}\n');
    const loaded = await loadConfig({
      configPath: 'sub/ferry.yaml',
      cwd: dir,
      env: { FERRY_PLATFORM: 'linux/arm64', FERRY_INSECURE_REGISTRIES: 'localhost:5000' },
      overrides: { buildArgs: { B: '3' }, tags: ['y', 'x'] },
    });
    expect(loaded.contextDir).toBe(path.join(dir, 'sub', 'ctx'));
    expect(loaded.dockerfile).toBe(path.join(dir, 'sub', 'ctx', 'Dockerfile'));
    expect(loaded.config.image.platform).toBe('linux/arm64');
    expect(loaded.config.image.buildArgs).toEqual({ A: '1', B: '3' });
    expect(loaded.config.image.tags).toEqual(['x', 'y']);
    expect(loaded.config.registries['localhost:5000']?.insecure).toBe(true);
  });

  it('finds the file through FERRY_CONFIG and reports a missing one with CONFIG_NOT_FOUND', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-cfg-'));
    await writeFile(path.join(dir, 'other.yaml'), 'apiVersion: ferry/v1\nimage: {name: a}\n');
    const loaded = await loadConfig({ cwd: dir, env: { FERRY_CONFIG: 'other.yaml' } });
    expect(loaded.config.image.name).toBe('a');
    await expect(loadConfig({ cwd: dir, env: {} })).rejects.toMatchObject({ code: 'CONFIG_NOT_FOUND', exitCode: 78 });
  });
});

describe('config schema', () => {
  it('is a JSON Schema that knows the image keys and forbids unknown ones', () => {
    const schema = configJsonSchema() as { properties: { image: { properties: Record<string, unknown>; additionalProperties: boolean } } };
    expect(Object.keys(schema.properties.image.properties)).toEqual(
      expect.arrayContaining(['name', 'context', 'dockerfile', 'platform', 'tags', 'buildArgs']),
    );
    expect(schema.properties.image.additionalProperties).toBe(false);
  });
});

describe('job and targets', () => {
  it('accepts the job section and local targets, with defaults', () => {
    const cfg = parseConfigText(
      [
        'apiVersion: ferry/v1',
        'image: {name: a/b}',
        'job:',
        '  command: [python, -m, app]',
        '  args: [--date, "2024-01-01"]',
        '  env: {LEVEL: debug, N: 3, ON: true}',
        '  resources: {cpu: "500m", memory: 512Mi}',
        '  timeout: 1h30m',
        'targets:',
        '  local: {type: local}',
        '  dev:',
        '    type: local',
        '    engine: podman',
        '    volumes: ["./data:/data:ro", "cache:/cache"]',
        '    ports: [8080, "127.0.0.1:9090:90/udp"]',
        '    network: none',
        '    workdir: /app',
        '    user: "1000:1000"',
        '    envFiles: [dev.env]',
      ].join('\n'),
      'ferry.yaml',
    );
    expect(cfg.job).toEqual({ command: ['python', '-m', 'app'], args: ['--date', '2024-01-01'], env: { LEVEL: 'debug', N: '3', ON: 'true' }, resources: { cpu: '500m', memory: '512Mi' }, timeout: '1h30m' });
    expect(cfg.targets?.['local']).toEqual({ type: 'local', engine: 'auto', volumes: [], ports: [], envFiles: [] });
    expect(cfg.targets?.['dev']).toMatchObject({ engine: 'podman', ports: ['8080', '127.0.0.1:9090:90/udp'], user: '1000:1000' });
  });

  it('has an empty job and no targets when the file has none', () => {
    const cfg = parseConfigText('apiVersion: ferry/v1\nimage: {name: a}\n', 'ferry.yaml');
    expect(cfg.job).toEqual({ env: {} });
    expect(cfg.targets).toBeUndefined();
  });

  it('puts job and the target union in the JSON Schema', () => {
    const schema = configJsonSchema() as { properties: Record<string, { properties?: Record<string, unknown>; additionalProperties?: unknown }> };
    expect(Object.keys(schema.properties['job']?.properties ?? {})).toEqual(['command', 'args', 'env', 'resources', 'timeout']);
    expect(JSON.stringify(schema.properties['targets'])).toContain('"const":"local"');
  });
});
