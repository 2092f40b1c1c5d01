import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerCache, RACY_WINDOW_MS, StatCache, resolveCacheDir } from '../../src/image/layer-cache.js';
import type { LayerEntry } from '../../src/image/layer.js';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-cache-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const fresh = async (name: string): Promise<string> => {
  const d = join(root, `${name}-${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};
// Files written by tests get an old mtime, so they are never "racily clean" unless a test wants it.
const OLD = new Date('2020-01-01T00:00:00Z');
async function put(path: string, content: string | Buffer): Promise<void> {
  await writeFile(path, content);
  await utimes(path, OLD, OLD);
}
const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

async function context(dir: string): Promise<LayerEntry[]> {
  await put(join(dir, 'a.py'), 'print(1)\n');
  await put(join(dir, 'b.txt'), 'bee\n');
  return [
    { path: 'app/a.py', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'a.py') },
    { path: 'app/b.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'b.txt') },
    { path: 'app/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: 'a.py' },
  ];
}

describe('resolveCacheDir', () => {
  it('prefers FERRY_CACHE_DIR, then XDG_CACHE_HOME/ferry, then ~/.cache/ferry', () => {
    expect(resolveCacheDir({ FERRY_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/c');
    expect(resolveCacheDir({ FERRY_CACHE_DIR: 'rel', HOME: '/h' }, '/work')).toBe('/work/rel');
    expect(resolveCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/ferry');
    expect(resolveCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/ferry');
    expect(resolveCacheDir({ FERRY_CACHE_DIR: '', XDG_CACHE_HOME: '', HOME: '/h' })).toBe('/h/.cache/ferry');
    expect(resolveCacheDir({})).toBe(join(homedir(), '.cache', 'ferry'));
  });
});

describe('LayerCache', () => {
  it('writes a layer once, then reuses it without tarring or hashing again', async () => {
    const cacheDir = await fresh('cache');
    const entries = await context(await fresh('ctx'));
    const cache = await LayerCache.open(cacheDir);
    const first = await cache.getOrWrite(entries, { mtime: 0 });
    expect(first.reused).toBe(false);
    expect(await cache.blobs.has(first.digest, first.size)).toBe(true);
    await cache.save();
    const blobIno = (await stat(cache.blobs.path(first.digest))).ino;

    const again = await LayerCache.open(cacheDir);
    const second = await again.getOrWrite(entries, { mtime: 0 });
    expect(second).toMatchObject({ reused: true, digest: first.digest, diffId: first.diffId, size: first.size, key: first.key, mediaType: first.mediaType });
    expect(again.stats.hits).toBe(2);
    expect(again.stats.misses).toBe(0);
    expect((await stat(again.blobs.path(first.digest))).ino).toBe(blobIno);
  });

  it('hits the cache from another checkout of the same files (paths are not in the key)', async () => {
    const cacheDir = await fresh('cache');
    const cache = await LayerCache.open(cacheDir);
    const a = await cache.getOrWrite(await context(await fresh('ctxA')), { mtime: 0 });
    const b = await cache.getOrWrite(await context(await fresh('ctxB')), { mtime: 0 });
    expect(b.reused).toBe(true);
    expect(b.digest).toBe(a.digest);
  });

  it('misses when content, mode, owner, link target or mtime change', async () => {
    const cache = await LayerCache.open(await fresh('cache'));
    const dir = await fresh('ctx');
    const base = await context(dir);
    const { key } = await cache.key(base, { mtime: 0 });
    const variants: LayerEntry[][] = [
      base.map((e) => (e.path === 'app/a.py' ? { ...e, mode: 0o755 } : e)),
      base.map((e) => (e.path === 'app/a.py' ? { ...e, uid: 1000 } : e)),
      base.map((e) => (e.path === 'app/link' ? { ...e, linkname: 'b.txt' } : e)),
      base.map((e) => (e.path === 'app/b.txt' ? { ...e, path: 'app/c.txt' } : e)),
    ];
    for (const v of variants) expect((await cache.key(v, { mtime: 0 })).key).not.toBe(key);
    expect((await cache.key(base, { mtime: 1 })).key).not.toBe(key);
    expect((await cache.key(base, { mtime: 0, parentDirs: { mode: 0o700, uid: 0, gid: 0 } })).key).not.toBe(key);
    await put(join(dir, 'a.py'), 'print(2)\n');
    expect((await cache.key(base, { mtime: 0 })).key).not.toBe(key);
    expect((await cache.key(base, { mtime: 0 })).entries.find((e) => e.path === 'app/a.py')?.sha256).toBe(sha('print(2)\n'));
  });

  it('rebuilds when the record is there but its blob was removed, or the record is corrupt', async () => {
    const cache = await LayerCache.open(await fresh('cache'));
    const entries = await context(await fresh('ctx'));
    const first = await cache.getOrWrite(entries, { mtime: 0 });
    await unlink(cache.blobs.path(first.digest));
    const second = await cache.getOrWrite(entries, { mtime: 0 });
    expect(second.reused).toBe(false);
    expect(second.digest).toBe(first.digest);
    expect(await cache.blobs.has(first.digest)).toBe(true);

    await writeFile(join(cache.dir, 'layers', `${first.key}.json`), '{"digest": 12');
    expect((await cache.getOrWrite(entries, { mtime: 0 })).reused).toBe(false);
    await writeFile(join(cache.dir, 'layers', `${first.key}.json`), JSON.stringify({ digest: 'sha256:nope', diffId: first.diffId, size: 1, mediaType: 'x' }));
    expect(await cache.lookup(first.key)).toBeUndefined();
  });

  it('fails with IMAGE_LAYER_SOURCE_CHANGED when a file differs from its listed size', async () => {
    const cache = await LayerCache.open(await fresh('cache'));
    const entries = (await context(await fresh('ctx'))).map((e) => (e.type === 'file' ? { ...e, size: 1 } : e));
    await expect(cache.getOrWrite(entries, { mtime: 0 })).rejects.toMatchObject({ code: 'IMAGE_LAYER_SOURCE_CHANGED', exitCode: 65 });
  });

  it('reports a missing file as IMAGE_LAYER_SOURCE_UNREADABLE', async () => {
    const cache = await LayerCache.open(await fresh('cache'));
    const entries: LayerEntry[] = [{ path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(root, 'missing') }];
    await expect(cache.getOrWrite(entries, { mtime: 0 })).rejects.toMatchObject({ code: 'IMAGE_LAYER_SOURCE_UNREADABLE' });
  });

  it('rejects bad entries before hashing anything', async () => {
    const cache = await LayerCache.open(await fresh('cache'));
    await expect(cache.key([{ path: '/abs', type: 'dir', mode: 0o755, uid: 0, gid: 0 }], { mtime: 0 })).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYER_ENTRY' });
  });

  it('hashes many files with bounded concurrency and gets them all right', async () => {
    const cache = await LayerCache.open(await fresh('cache'));
    const dir = await fresh('many');
    const entries: LayerEntry[] = [];
    for (let i = 0; i < 200; i++) {
      await put(join(dir, `f${i}`), `file ${i}\n`);
      entries.push({ path: `d/f${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, `f${i}`) });
    }
    const { entries: list } = await cache.key(entries, { mtime: 0 });
    for (const e of list) if (e.type === 'file') expect(e.sha256).toBe(sha(`file ${e.path.slice(3)}\n`));
  });
});

describe('StatCache', () => {
  it('saves and reloads entries, and trusts unchanged stat data', async () => {
    const dir = await fresh('stat');
    const file = join(dir, 'f');
    await put(file, 'hello');
    const cacheFile = join(dir, 'stat.json');
    const c = await StatCache.load(cacheFile);
    expect(await c.hash(file)).toEqual({ sha256: sha('hello'), size: 5 });
    expect(c.misses).toBe(1);
    await c.save();
    const d = await StatCache.load(cacheFile);
    expect(d.size).toBe(1);
    expect(await d.hash(file)).toEqual({ sha256: sha('hello'), size: 5 });
    expect(d.hits).toBe(1);
  });

  it('sees a same-size rewrite even when the mtime is put back (ctime changes)', async () => {
    const dir = await fresh('stat');
    const file = join(dir, 'f');
    await put(file, 'aaaa');
    const cacheFile = join(dir, 'stat.json');
    const c = await StatCache.load(cacheFile);
    await c.hash(file);
    await c.save();
    // Make sure the ctime tick differs even on coarse clocks.
    await new Promise((r) => setTimeout(r, 20));
    await put(file, 'bbbb');
    const d = await StatCache.load(cacheFile);
    expect((await d.hash(file)).sha256).toBe(sha('bbbb'));
    expect(d.misses).toBe(1);
  });

  it('does not save racily clean entries (mtime within the racy window of the save)', async () => {
    const dir = await fresh('stat');
    const file = join(dir, 'f');
    await writeFile(file, 'new');
    const mtimeMs = (await stat(file)).mtimeMs;
    const cacheFile = join(dir, 'stat.json');

    const racy = await StatCache.load(cacheFile, () => mtimeMs + RACY_WINDOW_MS - 1);
    await racy.hash(file);
    await racy.save();
    expect((await StatCache.load(cacheFile)).size).toBe(0);

    const settled = await StatCache.load(cacheFile, () => mtimeMs + RACY_WINDOW_MS + 1000);
    await settled.hash(file);
    await settled.save();
    expect((await StatCache.load(cacheFile)).size).toBe(1);
  });

  it('treats a corrupt or foreign cache file as empty', async () => {
    const dir = await fresh('stat');
    for (const body of ['not json', '[]', '{"version":99,"savedAtMs":0,"entries":{}}', '{"version":1,"savedAtMs":0,"entries":{"/x":[1]}}']) {
      await writeFile(join(dir, 'stat.json'), body);
      expect((await StatCache.load(join(dir, 'stat.json'))).size).toBe(0);
    }
    // Entries with malformed fields are skipped one by one.
    await writeFile(
      join(dir, 'stat.json'),
      JSON.stringify({ version: 1, savedAtMs: Date.now(), entries: { '/a': ['1', '2', '3', '4', 'sha256:bad'], '/b': ['x', '2', '3', '4', sha('b')] } }),
    );
    expect((await StatCache.load(join(dir, 'stat.json'))).size).toBe(0);
  });

  it('refuses directories', async () => {
    const c = await StatCache.load(join(await fresh('stat'), 's.json'));
    await expect(c.hash(root)).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYER_ENTRY' });
  });

  it('leaves no temp files next to the cache file', async () => {
    const dir = await fresh('stat');
    await put(join(dir, 'f'), 'x');
    const c = await StatCache.load(join(dir, 'stat.json'));
    await c.hash(join(dir, 'f'));
    await c.save();
    expect((await readdir(dir)).sort()).toEqual(['f', 'stat.json']);
    expect(JSON.parse(await readFile(join(dir, 'stat.json'), 'utf8'))).toMatchObject({ version: 1 });
  });
});
