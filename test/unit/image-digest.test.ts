import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Digest, HashingStream, sha256File } from '../../src/image/digest.js';
import { thrown } from '../helpers/errors.js';

const HEX64 = 'a'.repeat(64);
const sink = (): Writable =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });
describe('Digest', () => {
  it('parses sha256 and sha512', () => {
    const d = Digest.parse(`sha256:${HEX64}`);
    expect(d.algorithm).toBe('sha256');
    expect(d.hex).toBe(HEX64);
    expect(d.toString()).toBe(`sha256:${HEX64}`);
    expect(JSON.stringify({ d })).toBe(`{"d":"sha256:${HEX64}"}`);
    expect(Digest.parse(`sha512:${'0'.repeat(128)}`).algorithm).toBe('sha512');
  });

  it.each([
    '',
    'sha256:',
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'a'.repeat(65)}`,
    `SHA256:${HEX64}`,
    `sha256:${'A'.repeat(64)}`,
    `sha512:${HEX64}`,
    `md5:${'a'.repeat(32)}`,
    `sha256:${'g'.repeat(64)}`,
    ` sha256:${HEX64}`,
    `sha256:${HEX64}\n`,
    HEX64,
  ])('rejects %j with IMAGE_BAD_DIGEST (exit 65)', (bad) => {
    expect(Digest.isValid(bad)).toBe(false);
    expect(Digest.tryParse(bad)).toBeUndefined();
    expect(thrown(() => Digest.parse(bad, 'FROM line'))).toMatchObject({ code: 'IMAGE_BAD_DIGEST', exitCode: 65, where: 'FROM line' });
  });

  it('rejects non-strings in isValid', () => {
    expect(Digest.isValid(42)).toBe(false);
    expect(Digest.isValid(undefined)).toBe(false);
  });

  it('hashes bytes and compares', () => {
    const d = Digest.of('hello');
    expect(d.toString()).toBe(`sha256:${createHash('sha256').update('hello').digest('hex')}`);
    expect(d.equals(d.toString())).toBe(true);
    expect(d.equals(Digest.of('other'))).toBe(false);
    expect(Digest.of('hello', 'sha512').hex).toHaveLength(128);
  });
});

describe('HashingStream', () => {
  const data = [Buffer.from('hello '), Buffer.from('world')];
  const expected = `sha256:${createHash('sha256').update('hello world').digest('hex')}`;

  it('passes data through and reports digest and size', async () => {
    const h = new HashingStream();
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(data),
      h,
      new Writable({
        write(c: Buffer, _e, cb) {
          out.push(c);
          cb();
        },
      }),
    );
    expect(Buffer.concat(out).toString()).toBe('hello world');
    expect(h.digest().toString()).toBe(expected);
    expect(h.bytes).toBe(11);
  });

  it('refuses digest() before the end', () => {
    expect(() => new HashingStream().digest()).toThrow();
  });

  it('verifies an expected digest and size', async () => {
    const h = new HashingStream({ expectedDigest: expected, expectedSize: 11 });
    await pipeline(Readable.from(data), h, sink());
    expect(h.digest().toString()).toBe(expected);
  });

  it('fails with IMAGE_DIGEST_MISMATCH on other content', async () => {
    const h = new HashingStream({ expectedDigest: `sha256:${HEX64}` });
    await expect(pipeline(Readable.from(data), h, sink())).rejects.toMatchObject({ code: 'IMAGE_DIGEST_MISMATCH', exitCode: 65 });
  });

  it('fails with IMAGE_SIZE_MISMATCH as soon as there is too much, and when there is too little', async () => {
    await expect(pipeline(Readable.from(data), new HashingStream({ expectedSize: 5 }), sink())).rejects.toMatchObject({ code: 'IMAGE_SIZE_MISMATCH' });
    await expect(pipeline(Readable.from(data), new HashingStream({ expectedSize: 12 }), sink())).rejects.toMatchObject({ code: 'IMAGE_SIZE_MISMATCH' });
  });

  it('uses the algorithm of the expected digest', async () => {
    const want = `sha512:${createHash('sha512').update('hello world').digest('hex')}`;
    const h = new HashingStream({ expectedDigest: want });
    await pipeline(Readable.from(data), h, sink());
    expect(h.algorithm).toBe('sha512');
    expect(h.digest().toString()).toBe(want);
  });
});

describe('sha256File', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-digest-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hashes a file that spans several read chunks', async () => {
    const content = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const p = join(dir, 'f');
    await writeFile(p, content);
    const r = await sha256File(p);
    expect(r.size).toBe(content.length);
    expect(r.digest.toString()).toBe(`sha256:${createHash('sha256').update(content).digest('hex')}`);
  });

  it('hashes an empty file', async () => {
    const p = join(dir, 'empty');
    await writeFile(p, '');
    expect((await sha256File(p)).digest.hex).toBe(createHash('sha256').digest('hex'));
  });

  it('passes ENOENT through', async () => {
    await expect(sha256File(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
