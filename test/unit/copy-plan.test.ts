import { mkdtemp, mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanContext, type BuildContext } from '../../src/builders/native/context.js';
import { parseChmod, parseChown, planCopy } from '../../src/builders/native/copy.js';
import { FerryError } from '../../src/core/errors.js';

let root: string;
let ctx: BuildContext;
const base = { workdir: '/', owner: undefined, chmod: undefined, where: 'Dockerfile:3' };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FerryError) return e.code;
    throw e;
  }
  return 'no error';
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'ferry-ctx-'));
  await mkdir(path.join(root, 'src/pkg'), { recursive: true });
  await writeFile(path.join(root, 'app.py'), 'print(1)\n');
  await writeFile(path.join(root, 'run.sh'), '#!/bin/sh\n');
  await chmod(path.join(root, 'run.sh'), 0o775);
  await writeFile(path.join(root, 'a.txt'), 'a');
  await writeFile(path.join(root, 'b.txt'), 'b');
  await writeFile(path.join(root, 'src/pkg/mod.py'), 'x = 1\n');
  await symlink('app.py', path.join(root, 'link-to-app'));
  await symlink('/usr/bin/python3', path.join(root, 'src/python'));
  ctx = await scanContext(root, undefined);
});

describe('planCopy', () => {
  it('copies a file to a path, normalising modes and creating parents', () => {
    const out = planCopy(ctx, ['run.sh'], '/usr/local/bin/run', base);
    expect(out.map((e) => [e.path, e.type, e.mode.toString(8)])).toEqual([
      ['usr', 'dir', '755'],
      ['usr/local', 'dir', '755'],
      ['usr/local/bin', 'dir', '755'],
      ['usr/local/bin/run', 'file', '755'],
    ]);
  });

  it('puts a file inside a destination that ends in / and resolves relative destinations against WORKDIR', () => {
    const out = planCopy(ctx, ['app.py'], 'code/', { ...base, workdir: '/app' });
    expect(out.find((e) => e.type === 'file')?.path).toBe('app/code/app.py');
    expect(out.find((e) => e.type === 'file')?.mode).toBe(0o644);
  });

  it('copies the contents of a directory, not the directory itself, keeping symlinks as links', () => {
    const out = planCopy(ctx, ['src'], '/opt/', base);
    const paths = out.map((e) => e.path).sort();
    expect(paths).toEqual(['opt', 'opt/pkg', 'opt/pkg/mod.py', 'opt/python']);
    expect(out.find((e) => e.path === 'opt/python')).toMatchObject({ type: 'symlink', linkname: '/usr/bin/python3' });
  });

  it('expands wildcards like Go filepath.Match and needs a / destination for several sources', () => {
    const out = planCopy(ctx, ['*.txt'], '/data/', base);
    expect(out.filter((e) => e.type === 'file').map((e) => e.path)).toEqual(['data/a.txt', 'data/b.txt']);
    expect(codeOf(() => planCopy(ctx, ['*.txt'], '/data', base))).toBe('COPY_DEST_NOT_DIR');
    expect(codeOf(() => planCopy(ctx, ['[ab].txt', 'app.py'], '/d', base))).toBe('COPY_DEST_NOT_DIR');
    expect(planCopy(ctx, ['[a].txt'], '/one', base).find((e) => e.type === 'file')?.path).toBe('one');
  });

  it('follows a symlink named as a source, within the context', () => {
    const out = planCopy(ctx, ['link-to-app'], '/x/', base);
    const file = out.find((e) => e.type === 'file');
    expect(file?.path).toBe('x/link-to-app');
    expect(file?.source).toBe(path.join(root, 'app.py'));
  });

  it('applies --chown and --chmod to everything it creates', () => {
    const out = planCopy(ctx, ['app.py'], '/srv/app.py', { ...base, owner: { uid: 1000, gid: 100 }, chmod: 0o600 });
    expect(out.every((e) => e.uid === 1000 && e.gid === 100)).toBe(true);
    expect(out.every((e) => e.mode === 0o600)).toBe(true);
  });

  it('refuses sources outside the context and reports missing ones', () => {
    expect(codeOf(() => planCopy(ctx, ['../etc/passwd'], '/x', base))).toBe('CONTEXT_PATH_ESCAPE');
    expect(codeOf(() => planCopy(ctx, ['nope.py'], '/x', base))).toBe('COPY_SOURCE_NOT_FOUND');
    expect(codeOf(() => planCopy(ctx, ['*.none'], '/x/', base))).toBe('COPY_SOURCE_NOT_FOUND');
  });

  it('parses --chown and --chmod values', () => {
    expect(parseChown('1000', 'D:1')).toEqual({ uid: 1000, gid: 1000 });
    expect(parseChown('1:2', 'D:1')).toEqual({ uid: 1, gid: 2 });
    expect(codeOf(() => parseChown('app:app', 'D:1'))).toBe('NATIVE_CHOWN_NAME');
    expect(parseChmod('755', 'D:1')).toBe(0o755);
    expect(codeOf(() => parseChmod('u+x', 'D:1'))).toBe('DOCKERFILE_BAD_CHMOD');
  });
});

describe('scanContext', () => {
  it('refuses a relative symlink that climbs out of the context', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-ctx-'));
    await symlink('../../etc/passwd', path.join(dir, 'evil'));
    await expect(scanContext(dir, undefined)).rejects.toMatchObject({ code: 'CONTEXT_SYMLINK_ESCAPE', exitCode: 65 });
  });

  it('leaves out excluded paths (ferry\'s own output) whatever .dockerignore says', async () => {
    const c = await scanContext(root, { ignores: () => false }, [path.join(root, 'src'), '/elsewhere/entirely']);
    expect(c.paths.filter((p) => p.startsWith('src'))).toEqual([]);
    expect(c.paths).toContain('app.py');
  });

  it('skips what the ignore matcher excludes', async () => {
    const c = await scanContext(root, { ignores: (rel) => rel.endsWith('.txt') || rel === 'src' });
    expect(c.paths).not.toContain('a.txt');
    expect(c.paths).not.toContain('src/pkg/mod.py');
    expect(c.paths).toContain('app.py');
  });
});
