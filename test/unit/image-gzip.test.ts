import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DeterministicGzip, GZIP_BLOCK_SIZE } from '../../src/image/gzip.js';

async function gzip(chunks: Buffer[], concurrency?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new DeterministicGzip(concurrency === undefined ? {} : { concurrency }), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

function split(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

// Compressible text and incompressible noise, crossing several block boundaries.
const text = Buffer.from('SELECT id, fare, tip FROM taxi_trips WHERE pickup > now() - interval 1 day;\n'.repeat(40_000));
const data = Buffer.concat([text, randomBytes(GZIP_BLOCK_SIZE + 12345), text.subarray(0, 777)]);

describe('DeterministicGzip', () => {
  it('round-trips through gunzip', async () => {
    expect(gunzipSync(await gzip([data])).equals(data)).toBe(true);
  });

  it('gives the same bytes whatever the chunking and the parallelism', async () => {
    const a = await gzip(split(data, 65_536), 1);
    const b = await gzip(split(data, 1_000_003), 4);
    const c = await gzip(split(data, 333), 2);
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(true);
  });

  it('writes a fixed header (no mtime, OS 255) and a CRC-32/ISIZE trailer', async () => {
    const out = await gzip([Buffer.from('hello')]);
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    expect(out.readUInt32LE(out.length - 4)).toBe(5);
    expect(out.readUInt32LE(out.length - 8)).toBe(0x3610a686); // crc32("hello")
  });

  it('compresses empty input to a valid empty gzip', async () => {
    const out = await gzip([]);
    expect(gunzipSync(out).length).toBe(0);
  });

  it('compresses input of exactly one block', async () => {
    const block = Buffer.alloc(GZIP_BLOCK_SIZE, 1);
    expect(gunzipSync(await gzip([block])).equals(block)).toBe(true);
  });

  it('actually compresses', async () => {
    expect((await gzip([text])).length).toBeLessThan(text.length / 10);
  });
});
