import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/image/blob-store.js';
import { MediaType } from '../../src/image/media-types.js';
import { normalizeEntries, writeLayer, type LayerEntry } from '../../src/image/layer.js';

const MTIME = 1_700_000_000;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-layer-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function tempDir(name: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true });
  return d;
}

/** A small tree on disk, and entries for it, as the builder would list them. */
async function fixture(dir: string): Promise<LayerEntry[]> {
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'src', 'main.py'), 'print("hello")\n');
  await writeFile(join(dir, 'run.sh'), '#!/bin/sh\necho run\n');
  await writeFile(join(dir, 'big.bin'), Buffer.alloc(2 * 1024 * 1024 + 3, 0x5a));
  await writeFile(join(dir, 'empty'), '');
  return [
    { path: 'app/src/main.py', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'src', 'main.py') },
    { path: 'app/run.sh', type: 'file', mode: 0o755, uid: 1000, gid: 1000, source: join(dir, 'run.sh') },
    { path: 'app/big.bin', type: 'file', mode: 0o600, uid: 0, gid: 0, source: join(dir, 'big.bin'), size: 2 * 1024 * 1024 + 3 },
    { path: 'app/empty', type: 'file', mode: 0o444, uid: 0, gid: 0, source: join(dir, 'empty') },
    { path: 'app/current', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: 'src/main.py' },
    { path: 'app', type: 'dir', mode: 0o755, uid: 1000, gid: 1000 },
  ];
}

interface ReadEntry {
  header: tar.Header;
  body: Buffer;
}

async function readTar(gz: Buffer): Promise<ReadEntry[]> {
  const ex = tar.extract();
  const out: ReadEntry[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      out.push({ header: entry.header, body: Buffer.concat(parts) });
    }
  })();
  ex.end(gunzipSync(gz));
  await done;
  return out;
}

describe('writeLayer', () => {
  let store: BlobStore;
  let entries: LayerEntry[];
  let blob: Buffer;
  let result: Awaited<ReturnType<typeof writeLayer>>;

  beforeAll(async () => {
    store = new BlobStore(await tempDir('store'));
    entries = await fixture(await tempDir('ctx1'));
    result = await writeLayer(entries, { mtime: MTIME, store });
    blob = await readFile(store.path(result.digest));
  });

  it('stores the blob under its digest and reports digest, diff_id and size', () => {
    expect(result.mediaType).toBe(MediaType.OCI_LAYER_GZIP);
    expect(result.digest).toBe(`sha256:${createHash('sha256').update(blob).digest('hex')}`);
    expect(result.size).toBe(blob.length);
    const raw = gunzipSync(blob);
    expect(result.diffId).toBe(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
    expect(result.uncompressedSize).toBe(raw.length);
  });

  it('writes a gzip header with no timestamp and OS 255', () => {
    expect([...blob.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  });

  it('is accepted by gzip -t and tar -tvzf, sorted, parents first, with the fixed time', () => {
    const path = store.path(result.digest);
    execFileSync('gzip', ['-t', path]);
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', path], { env: { ...process.env, TZ: 'UTC' } }).toString().trim().split('\n');
    const names = listing.map((l) => l.split(/\s+/)[5]);
    expect(names).toEqual(['app/', 'app/big.bin', 'app/current', 'app/empty', 'app/run.sh', 'app/src/', 'app/src/main.py']);
    for (const l of listing) expect(l).toContain('2023-11-14 22:13:20');
    expect(listing[0]).toMatch(/^drwxr-xr-x 1000\/1000 /);
    expect(listing[2]).toMatch(/^lrwxrwxrwx 0\/0 .* app\/current -> src\/main.py$/);
    expect(listing[3]).toMatch(/^-r--r--r-- 0\/0 /);
  });

  it('writes empty uname/gname, zero device numbers, and the content of each file', async () => {
    const read = await readTar(blob);
    for (const { header } of read) {
      expect(header.uname).toBe('');
      expect(header.gname).toBe('');
      expect(header.devmajor).toBe(0);
      expect(header.devminor).toBe(0);
      expect(header.mtime.getTime()).toBe(MTIME * 1000);
    }
    const byName = new Map(read.map((r) => [r.header.name, r]));
    expect(byName.get('app/src/main.py')?.body.toString()).toBe('print("hello")\n');
    expect(byName.get('app/big.bin')?.body.equals(Buffer.alloc(2 * 1024 * 1024 + 3, 0x5a))).toBe(true);
    expect(byName.get('app/src/')?.header).toMatchObject({ type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    expect(byName.get('app/run.sh')?.header).toMatchObject({ type: 'file', mode: 0o755, uid: 1000, gid: 1000 });
  });

  it('extracts with GNU tar to the same bytes', async () => {
    const out = await tempDir('extract');
    execFileSync('tar', ['-xzf', store.path(result.digest), '-C', out]);
    expect((await readFile(join(out, 'app', 'run.sh'))).toString()).toBe('#!/bin/sh\necho run\n');
    expect((await readFile(join(out, 'app', 'big.bin'))).length).toBe(2 * 1024 * 1024 + 3);
  });

  it('gives the same digest for the same content in another directory, listed in another order', async () => {
    const other = await fixture(await tempDir('ctx2'));
    const again = await writeLayer([...other].reverse(), { mtime: MTIME, store: new BlobStore(await tempDir('store2')) });
    expect(again.digest).toBe(result.digest);
    expect(again.diffId).toBe(result.diffId);
  });

  it('changes the digest when the mtime changes', async () => {
    const again = await writeLayer(entries, { mtime: MTIME + 1, store });
    expect(again.digest).not.toBe(result.digest);
  });

  it('leaves no temp files behind', async () => {
    const files = await readdir(join(store.root, 'blobs', 'sha256'));
    expect(files.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });
});

describe('writeLayer: tar format corners', () => {
  it('writes long, non-ASCII and deep names, large ids and mode 0, readable by GNU tar', async () => {
    const dir = await tempDir('corners');
    await writeFile(join(dir, 'f'), 'x');
    const long = `${'d'.repeat(120)}/${'n'.repeat(150)}.txt`;
    const entries: LayerEntry[] = [
      { path: long, type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'f') },
      { path: 'données/été.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'f') },
      { path: 'big-ids', type: 'file', mode: 0o640, uid: 300000, gid: 4000000000, source: join(dir, 'f') },
      { path: 'no-perms', type: 'file', mode: 0, uid: 0, gid: 0, source: join(dir, 'f') },
      { path: 'setuid', type: 'file', mode: 0o4755, uid: 0, gid: 0, source: join(dir, 'f') },
      { path: 'link-long', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: `/${'t'.repeat(200)}` },
    ];
    const store = new BlobStore(await tempDir('corners-store'));
    const r = await writeLayer(entries, { mtime: 0, store });
    // GNU tar escapes non-ASCII names (\303\251) unless told to print them as they are; CI may run
    // with no locale at all.
    const listing = execFileSync('tar', ['--numeric-owner', '--quoting-style=literal', '-tvzf', store.path(r.digest)]).toString();
    expect(listing).toContain(long);
    expect(listing).toContain('données/été.txt');
    expect(listing).toMatch(/-rw-r----- 300000\/4000000000 .* big-ids/);
    expect(listing).toMatch(/---------- 0\/0 .* no-perms/);
    expect(listing).toMatch(/-rwsr-xr-x 0\/0 .* setuid/);
    expect(listing).toContain(`link-long -> /${'t'.repeat(200)}`);
    const names = execFileSync('tar', ['--quoting-style=literal', '-tzf', store.path(r.digest)]).toString().trim().split('\n');
    // The implied parent of the long name comes first, and byte order puts "big-ids" before "d…".
    expect(names.indexOf(`${'d'.repeat(120)}/`)).toBeLessThan(names.indexOf(long));
  });

  it('writes an empty layer (no entries) as a valid empty tar', async () => {
    const store = new BlobStore(await tempDir('empty-store'));
    const r = await writeLayer([], { mtime: 0, store });
    execFileSync('gzip', ['-t', store.path(r.digest)]);
    expect(gunzipSync(await readFile(store.path(r.digest))).equals(Buffer.alloc(1024))).toBe(true);
  });
});

describe('writeLayer: bad input', () => {
  const file = (over: Partial<LayerEntry>): LayerEntry => ({ path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, source: '/etc/hostname', ...over });
  it.each<[string, LayerEntry[]]>([
    ['leading slash', [file({ path: '/a' })]],
    ['dot-dot', [file({ path: 'a/../b' })]],
    ['dot', [file({ path: './a' })]],
    ['double slash', [file({ path: 'a//b' })]],
    ['trailing slash', [file({ path: 'a/' })]],
    ['empty path', [file({ path: '' })]],
    ['NUL', [file({ path: 'a\0b' })]],
    ['duplicate', [file({}), file({})]],
    ['file under a file', [file({}), file({ path: 'a/b' })]],
    ['file under a symlink', [{ path: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: 'x' }, file({ path: 'l/b' })]],
    ['relative source', [file({ source: 'etc/hostname' })]],
    ['no source', [{ path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0 }]],
    ['mode too big', [file({ mode: 0o10000 })]],
    ['negative uid', [file({ uid: -1 })]],
    ['fractional gid', [file({ gid: 1.5 })]],
    ['bad size', [file({ size: -1 })]],
    ['bad sha256', [file({ sha256: 'sha256:xyz' })]],
    ['symlink without target', [{ path: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0 }]],
    ['unknown type', [{ path: 'x', type: 'fifo' as 'file', mode: 0o644, uid: 0, gid: 0 }]],
  ])('%s gives IMAGE_BAD_LAYER_ENTRY', async (_name, entries) => {
    expect(() => normalizeEntries(entries)).toThrow(expect.objectContaining({ code: 'IMAGE_BAD_LAYER_ENTRY', exitCode: 65 }));
    const store = new BlobStore(await tempDir('bad-store'));
    await expect(writeLayer(entries, { mtime: 0, store })).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYER_ENTRY' });
  });

  it.each([-1, 1.5, 2 ** 31, Number.NaN])('mtime %s gives IMAGE_BAD_MTIME', async (mtime) => {
    const store = new BlobStore(await tempDir('bad-mtime'));
    await expect(writeLayer([], { mtime, store })).rejects.toMatchObject({ code: 'IMAGE_BAD_MTIME', exitCode: 65 });
  });

  it('a missing source gives IMAGE_LAYER_SOURCE_UNREADABLE with the cause, and no blob', async () => {
    const store = new BlobStore(await tempDir('missing-store'));
    const err: unknown = await writeLayer([file({ source: join(root, 'nope') })], { mtime: 0, store }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IMAGE_LAYER_SOURCE_UNREADABLE', exitCode: 65 });
    expect((err as Error).cause).toMatchObject({ code: 'ENOENT' });
    expect(existsSync(join(store.root, 'blobs', 'sha256')) ? await readdir(join(store.root, 'blobs', 'sha256')) : []).toEqual([]);
  });

  it('a directory as a file source gives IMAGE_BAD_LAYER_ENTRY', async () => {
    const store = new BlobStore(await tempDir('dir-source'));
    await expect(writeLayer([file({ source: root })], { mtime: 0, store })).rejects.toMatchObject({ code: 'IMAGE_BAD_LAYER_ENTRY' });
  });
});

describe('writeLayer: a file that changes between listing and reading', () => {
  it('fails when the size differs from the listed size, leaving no blob or temp file', async () => {
    const dir = await tempDir('changed');
    await writeFile(join(dir, 'f'), 'longer than listed');
    const store = new BlobStore(await tempDir('changed-store'));
    const entries: LayerEntry[] = [
      { path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'f'), size: 4 },
    ];
    await expect(writeLayer(entries, { mtime: 0, store })).rejects.toMatchObject({ code: 'IMAGE_LAYER_SOURCE_CHANGED', exitCode: 65 });
    expect(await readdir(join(store.root, 'blobs', 'sha256'))).toEqual([]);
  });

  it('fails when the content no longer has the listed sha256', async () => {
    const dir = await tempDir('changed-hash');
    await writeFile(join(dir, 'f'), 'new content');
    const store = new BlobStore(await tempDir('changed-hash-store'));
    const stale = `sha256:${createHash('sha256').update('old content').digest('hex')}`;
    const entries: LayerEntry[] = [{ path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'f'), sha256: stale }];
    await expect(writeLayer(entries, { mtime: 0, store })).rejects.toMatchObject({ code: 'IMAGE_LAYER_SOURCE_CHANGED' });
    expect(await readdir(join(store.root, 'blobs', 'sha256'))).toEqual([]);
  });

  // /proc files report size 0 but have content: exactly a file that "grew" after it was listed.
  it.runIf(existsSync('/proc/self/status'))('fails when a file has more bytes than its size said', async () => {
    const store = new BlobStore(await tempDir('grew-store'));
    const entries: LayerEntry[] = [{ path: 'status', type: 'file', mode: 0o644, uid: 0, gid: 0, source: '/proc/self/status' }];
    await expect(writeLayer(entries, { mtime: 0, store })).rejects.toMatchObject({ code: 'IMAGE_LAYER_SOURCE_CHANGED' });
  });

  // sysfs attributes report 4096 bytes and hold fewer: a file that "shrank".
  const sysfs = '/sys/kernel/mm/transparent_hugepage/enabled';
  it.runIf(existsSync(sysfs))('fails when a file ends before its size', async () => {
    const store = new BlobStore(await tempDir('shrank-store'));
    const entries: LayerEntry[] = [{ path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, source: sysfs }];
    await expect(writeLayer(entries, { mtime: 0, store })).rejects.toMatchObject({ code: 'IMAGE_LAYER_SOURCE_CHANGED' });
  });
});

describe('writeLayer: the disk side fails', () => {
  it('reports the store error (IMAGE_STORE_IO), not an echo from the tar stream', async () => {
    const dir = await tempDir('store-fails');
    const notADir = join(dir, 'file');
    await writeFile(notADir, 'x');
    await writeFile(join(dir, 'f'), Buffer.alloc(3 * 1024 * 1024, 1));
    const entries: LayerEntry[] = [{ path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'f') }];
    await expect(writeLayer(entries, { mtime: 0, store: new BlobStore(notADir) })).rejects.toMatchObject({ code: 'IMAGE_STORE_IO' });
  });
});

describe('writeLayer: golden digests', () => {
  // Pinned so that any change to the tar or gzip output is noticed: such a change alters every
  // user's layer digests and must come with a new LAYER_FORMAT. The compressed digest also depends
  // on the zlib that Node bundles, so it is only compared under the zlib it was recorded with.
  const GOLDEN = {
    diffId: 'sha256:dd48ab71958609a3953ff8eb66ba99ed1d5797b962d8d0a141c3750ca0dcc769',
    zlib: '1.3.1-e00f703',
    digest: 'sha256:de38ff64f8d695915d3c9fb3f9595c1e00568b9b16b289627e6efcd129e1cef0',
  };
  let r: Awaited<ReturnType<typeof writeLayer>>;
  beforeAll(async () => {
    const dir = await tempDir('golden');
    await writeFile(join(dir, 'a'), 'alpha\n');
    await writeFile(join(dir, 'b'), Buffer.alloc(3 * 1024 * 1024, 'ferry '));
    const entries: LayerEntry[] = [
      { path: 'opt/app/a.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, source: join(dir, 'a') },
      { path: 'opt/app/b.bin', type: 'file', mode: 0o600, uid: 1000, gid: 1000, source: join(dir, 'b') },
      { path: 'opt/app/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: 'a.txt' },
    ];
    r = await writeLayer(entries, { mtime: 1_700_000_000, store: new BlobStore(await tempDir('golden-store')) });
  });

  it('gives the recorded diff_id (the tar) for a fixed input', () => {
    expect(r.diffId).toBe(GOLDEN.diffId);
  });

  it.runIf(process.versions.zlib === GOLDEN.zlib)('gives the recorded digest (the gzip) under the recorded zlib', () => {
    expect(r.digest).toBe(GOLDEN.digest);
  });
});
