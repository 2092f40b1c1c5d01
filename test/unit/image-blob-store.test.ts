import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/image/blob-store.js';
import { Digest } from '../../src/image/digest.js';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-blobs-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const newStore = (): BlobStore => new BlobStore(join(root, `s${n++}`));
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const tmpFiles = async (s: BlobStore): Promise<string[]> =>
  (await readdir(join(s.root, 'blobs', 'sha256')).catch(() => [] as string[])).filter((f) => f.startsWith('.tmp-'));

describe('BlobStore', () => {
  it('writes a stream under its digest and reads it back', async () => {
    const s = newStore();
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 9);
    const info = await s.writeFrom(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    expect(info.digest.toString()).toBe(sha(data));
    expect(info.size).toBe(data.length);
    expect(s.path(info.digest)).toBe(join(s.root, 'blobs', 'sha256', info.digest.hex));
    expect(await s.has(info.digest)).toBe(true);
    expect(await s.has(info.digest, data.length)).toBe(true);
    expect(await s.has(info.digest, 1)).toBe(false);
    expect(await s.size(info.digest)).toBe(data.length);
    const parts: Buffer[] = [];
    for await (const c of await s.open(info.digest)) parts.push(c as Buffer);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(await tmpFiles(s)).toEqual([]);
  });

  it('reads a range', async () => {
    const s = newStore();
    const { digest } = await s.putBytes(Buffer.from('0123456789'));
    const parts: Buffer[] = [];
    for await (const c of await s.open(digest, { start: 2, end: 4 })) parts.push(c as Buffer);
    expect(Buffer.concat(parts).toString()).toBe('234');
  });

  it('verifies an expected digest and commits nothing on mismatch', async () => {
    const s = newStore();
    const wrong = sha('something else');
    await expect(s.writeFrom(Readable.from([Buffer.from('content')]), { expectedDigest: wrong })).rejects.toMatchObject({ code: 'IMAGE_DIGEST_MISMATCH', exitCode: 65 });
    expect(await s.has(wrong)).toBe(false);
    expect(await s.has(sha('content'))).toBe(false);
    expect(await tmpFiles(s)).toEqual([]);
  });

  it('accepts content matching the expected digest, sha512 included', async () => {
    const s = newStore();
    const d512 = `sha512:${createHash('sha512').update('x').digest('hex')}`;
    const info = await s.writeFrom(Readable.from([Buffer.from('x')]), { expectedDigest: d512 });
    expect(info.digest.toString()).toBe(d512);
    expect((await readFile(join(s.root, 'blobs', 'sha512', info.digest.hex))).toString()).toBe('x');
  });

  it('stops at the first byte over an expected size, and fails on a short blob', async () => {
    const s = newStore();
    await expect(s.writeFrom(Readable.from([Buffer.alloc(10)]), { expectedSize: 5 })).rejects.toMatchObject({ code: 'IMAGE_SIZE_MISMATCH' });
    await expect(s.writeFrom(Readable.from([Buffer.alloc(10)]), { expectedSize: 11 })).rejects.toMatchObject({ code: 'IMAGE_SIZE_MISMATCH' });
    expect(await tmpFiles(s)).toEqual([]);
  });

  it('removes the temp file when the source fails midway', async () => {
    const s = newStore();
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(100);
      await new Promise((r) => setImmediate(r));
      throw new Error('connection reset');
    }
    await expect(s.writeFrom(failing())).rejects.toThrow('connection reset');
    expect(await tmpFiles(s)).toEqual([]);
  });

  it('writes the same blob twice, concurrently, without harm', async () => {
    const s = newStore();
    const data = Buffer.alloc(2 * 1024 * 1024, 3);
    const [a, b] = await Promise.all([s.writeFrom(Readable.from([data])), s.writeFrom(Readable.from([data]))]);
    expect(a.digest.equals(b.digest)).toBe(true);
    expect((await readFile(s.path(a.digest))).equals(data)).toBe(true);
  });

  it('putBytes and readBytes round-trip, with a size bound and digest check on read', async () => {
    const s = newStore();
    const { digest, size } = await s.putBytes(Buffer.from('{"a":1}'));
    expect(size).toBe(7);
    expect((await s.readBytes(digest, 100)).toString()).toBe('{"a":1}');
    await expect(s.readBytes(digest, 3)).rejects.toMatchObject({ code: 'IMAGE_BLOB_TOO_LARGE' });
    // Corrupt it on disk: reading must notice.
    await chmod(s.path(digest), 0o644);
    await writeFile(s.path(digest), '{"a":2}');
    await expect(s.readBytes(digest, 100)).rejects.toMatchObject({ code: 'IMAGE_DIGEST_MISMATCH' });
    // putBytes with an expected digest refuses other bytes.
    await expect(s.putBytes(Buffer.from('x'), { expectedDigest: sha('y') })).rejects.toMatchObject({ code: 'IMAGE_DIGEST_MISMATCH' });
  });

  it('reports a missing blob as IMAGE_BLOB_NOT_FOUND', async () => {
    const s = newStore();
    const d = sha('absent');
    expect(await s.has(d)).toBe(false);
    expect(await s.size(d)).toBeUndefined();
    await expect(s.open(d)).rejects.toMatchObject({ code: 'IMAGE_BLOB_NOT_FOUND', exitCode: 65 });
    await expect(s.readBytes(d, 10)).rejects.toMatchObject({ code: 'IMAGE_BLOB_NOT_FOUND' });
    await expect(s.copyTo(newStore(), d)).rejects.toMatchObject({ code: 'IMAGE_BLOB_NOT_FOUND' });
  });

  it('refuses an invalid digest instead of building a path from it', () => {
    const s = newStore();
    expect(() => s.path('sha256:../../etc/passwd')).toThrow(expect.objectContaining({ code: 'IMAGE_BAD_DIGEST' }));
  });

  it('hard-links into another store on the same file system', async () => {
    const a = newStore();
    const b = newStore();
    const { digest } = await a.putBytes(Buffer.from('layer'));
    expect(await a.copyTo(b, digest)).toBe('linked');
    expect((await stat(b.path(digest))).ino).toBe((await stat(a.path(digest))).ino);
    expect(await a.copyTo(b, digest)).toBe('present');
  });

  it('copies when a hard link is not possible (another file system)', async () => {
    // /dev/shm is a tmpfs on Linux, so linking from /tmp into it fails with EXDEV.
    const shm = '/dev/shm';
    const usable = await stat(shm).then((s) => s.isDirectory() && s.dev !== 0, () => false);
    const a = newStore();
    const { digest } = await a.putBytes(Buffer.from('cross-device'));
    if (!usable || (await stat(shm)).dev === (await stat(a.root)).dev) return;
    const dir = await mkdtemp(join(shm, 'ferry-blobs-'));
    try {
      const b = new BlobStore(dir);
      expect(await a.copyTo(b, digest)).toBe('copied');
      expect((await readFile(b.path(digest))).toString()).toBe('cross-device');
      expect((await readdir(join(dir, 'blobs', 'sha256'))).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('maps an unusable root to IMAGE_STORE_IO with exit 78', async () => {
    const file = join(root, 'not-a-dir');
    await writeFile(file, 'x');
    await expect(new BlobStore(file).putBytes(Buffer.from('x'))).rejects.toMatchObject({ code: 'IMAGE_STORE_IO', exitCode: 78 });
  });

  it('removes blobs, and removing a missing one is fine', async () => {
    const s = newStore();
    const { digest } = await s.putBytes(Buffer.from('gone'));
    await s.remove(digest);
    expect(await s.has(digest)).toBe(false);
    await s.remove(digest);
  });

  it('streams through pipeline with writeStream and reports result()', async () => {
    const s = newStore();
    const w = s.writeStream();
    expect(() => w.result()).toThrow();
    await pipeline(Readable.from([Buffer.from('abc')]), w);
    expect(w.result().digest.equals(Digest.of('abc'))).toBe(true);
    expect(w.bytesWritten).toBe(3);
  });

  it('ignores stray temp files and directories it did not make', async () => {
    const s = newStore();
    await mkdir(join(s.root, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(s.root, 'blobs', 'sha256', '.tmp-leftover'), 'partial');
    const { digest } = await s.putBytes(Buffer.from('ok'));
    expect(await s.has(digest)).toBe(true);
  });
});
