import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/core/errors.js';
import type { Handle } from '../../src/core/target.js';
import { HandleStore, KEEP, resolveStateDir } from '../../src/infra/handles.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-handles-'));
});
afterEach(async () => {
  await chmod(dir, 0o700).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const handle = (id: string, createdAt: string, ref: Record<string, string> = {}): Handle => ({
  id,
  target: 'nightly',
  type: 'aws-batch',
  image: 'r/x@sha256:' + 'a'.repeat(64),
  createdAt,
  ref: { jobId: `job-${id}`, ...ref },
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FerryError) return `${e.code}/${e.exitCode}`;
    throw e;
  }
  return 'no error';
}

describe('resolveStateDir', () => {
  it('prefers FERRY_STATE_DIR, then an absolute XDG_STATE_HOME, then ~/.local/state', () => {
    expect(resolveStateDir({ FERRY_STATE_DIR: 'rel', XDG_STATE_HOME: '/x' }, '/cwd')).toBe('/cwd/rel');
    expect(resolveStateDir({ XDG_STATE_HOME: '/x', HOME: '/h' }, '/cwd')).toBe('/x/ferry');
    // The XDG spec: a relative value is invalid and ignored.
    expect(resolveStateDir({ XDG_STATE_HOME: 'x', HOME: '/h' }, '/cwd')).toBe('/h/.local/state/ferry');
  });
});

describe('HandleStore', () => {
  it('saves handles as private JSON files and finds them by id, prefix and platform id', async () => {
    const store = new HandleStore(dir);
    const file = await store.save(handle('20261129-aaaa', '2026-11-29T10:00:00.000Z'), { config: '/p/ferry.yaml' });
    await store.save(handle('20261129-bbbb', '2026-11-29T11:00:00.000Z'));
    expect(((await import('node:fs')).statSync(file).mode & 0o777).toString(8)).toBe('600');
    expect((await store.find('20261129-aaaa')).config).toBe('/p/ferry.yaml');
    expect((await store.find('20261129-b')).handle.id).toBe('20261129-bbbb');
    expect((await store.find('job-20261129-aaaa')).handle.id).toBe('20261129-aaaa');
    expect(await codeOf(store.find('20261129'))).toBe('HANDLE_AMBIGUOUS/64');
    expect(await codeOf(store.find('nope'))).toBe('HANDLE_NOT_FOUND/64');
    // An id is never a path: ../ finds nothing rather than reading elsewhere.
    expect(await codeOf(store.find('../../etc/passwd'))).toBe('HANDLE_NOT_FOUND/64');
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ version: 1, handle: { id: '20261129-aaaa' } });
  });

  it('--last is the newest run; an empty store says to deploy first', async () => {
    const store = new HandleStore(dir);
    expect(await codeOf(store.last())).toBe('HANDLE_NOT_FOUND/64');
    await store.save(handle('b', '2026-11-29T11:00:00.000Z'));
    await store.save(handle('a', '2026-11-29T12:00:00.000Z'));
    await store.save(handle('c', '2026-11-29T09:00:00.000Z'));
    expect((await store.last()).handle.id).toBe('a');
  });

  it('skips and reports an unreadable file for --last, and names it for --id', async () => {
    const store = new HandleStore(dir);
    await store.save(handle('good', '2026-11-29T11:00:00.000Z'));
    await writeFile(path.join(store.dir, 'broken.json'), '{not json');
    await writeFile(path.join(store.dir, 'other.json'), JSON.stringify({ version: 99 }));
    const skipped: string[] = [];
    expect((await store.last((f) => skipped.push(path.basename(f)))).handle.id).toBe('good');
    expect(skipped.sort()).toEqual(['broken.json', 'other.json']);
    expect(await codeOf(store.find('broken'))).toBe('HANDLE_UNREADABLE/65');
  });

  it('update keeps the config path and records the last status', async () => {
    const store = new HandleStore(dir);
    const h = handle('u', '2026-11-29T11:00:00.000Z');
    await store.save(h, { config: '/p/ferry.yaml' });
    await store.update(h, { state: 'failed', exitCode: 3 });
    const got = await store.find('u');
    expect(got.config).toBe('/p/ferry.yaml');
    expect(got.lastStatus).toEqual({ state: 'failed', exitCode: 3 });
  });

  it('a handle file whose id is not its own name is skipped, so pruning never removes a file elsewhere', async () => {
    const store = new HandleStore(dir);
    await store.save(handle('real', '2026-11-29T11:00:00.000Z'));
    const victim = path.join(dir, 'victim.json');
    await writeFile(victim, 'keep me');
    const planted = JSON.parse(await readFile(path.join(store.dir, 'real.json'), 'utf8')) as { handle: { id: string; createdAt: string } };
    planted.handle.id = '../victim';
    planted.handle.createdAt = '2000-01-01T00:00:00.000Z';
    await writeFile(path.join(store.dir, 'planted.json'), JSON.stringify(planted));
    const skipped: string[] = [];
    await store.last((f) => skipped.push(path.basename(f)));
    expect(skipped).toEqual(['planted.json']);
    for (let i = 0; i < KEEP + 1; i++) await store.save(handle(`n${String(i).padStart(4, '0')}`, new Date(Date.UTC(2026, 0, 2, 0, 0, i)).toISOString()));
    expect(await readFile(victim, 'utf8')).toBe('keep me');
  });

  it('--id matches a platform run id (job id, name), never another ref value such as a revision', async () => {
    const store = new HandleStore(dir);
    await store.save(handle('20260101-aaaa', '2026-01-01T10:00:00.000Z', { revision: '2', reusedDefinition: 'true', jobName: 'ferry-nightly-x' }));
    await store.save(handle('20260101-bbbb', '2026-01-01T11:00:00.000Z', { revision: '3' }));
    expect(await codeOf(store.find('2'))).toBe('HANDLE_AMBIGUOUS/64');
    expect(await codeOf(store.find('true'))).toBe('HANDLE_NOT_FOUND/64');
    expect((await store.find('ferry-nightly-x')).handle.id).toBe('20260101-aaaa');
  });

  it('a handle that cannot be read (a directory in its place) is HANDLE_UNREADABLE, not a crash', async () => {
    const store = new HandleStore(dir);
    await store.save(handle('ok', '2026-11-29T11:00:00.000Z'));
    await (await import('node:fs/promises')).mkdir(path.join(store.dir, 'odd.json'));
    expect(await codeOf(store.find('odd'))).toBe('HANDLE_UNREADABLE/65');
    expect((await store.last()).handle.id).toBe('ok');
  });

  it('runs created in the same millisecond: the one saved later is --last, and a status update does not reorder them', async () => {
    const store = new HandleStore(dir);
    const same = '2026-11-29T11:00:00.000Z';
    await store.save(handle('first', same));
    await new Promise((r) => setTimeout(r, 5));
    await store.save(handle('second', same));
    await new Promise((r) => setTimeout(r, 5));
    await store.update(handle('first', same), { state: 'running' });
    expect((await store.last()).handle.id).toBe('second');
  });

  it(`keeps only the newest ${KEEP} handles`, async () => {
    const store = new HandleStore(dir);
    for (let i = 0; i < KEEP + 3; i++) await store.save(handle(`h${String(i).padStart(4, '0')}`, new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()));
    const names = (await readdir(store.dir)).sort();
    expect(names).toHaveLength(KEEP);
    expect(names[0]).toBe('h0003.json');
  });

  it('an unwritable state directory is a coded error naming it and the way out', async () => {
    if (process.getuid?.() === 0) {
      // root writes through permissions: a file in the way of the directory fails for everyone.
      await writeFile(path.join(dir, 'handles'), 'in the way');
    } else {
      await chmod(dir, 0o500);
    }
    const store = new HandleStore(dir);
    const err = await store.save(handle('x', '2026-11-29T11:00:00.000Z')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('STATE_DIR_UNWRITABLE');
    expect((err as FerryError).exitCode).toBe(78);
    expect((err as FerryError).suggestions.join(' ')).toContain('FERRY_STATE_DIR');
  });
});
