import { mkdtemp, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { shellInConfig, shellInLayers, type ProbeLayer } from '../../src/image/shell-probe.js';

type E = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-probe-'));
});

let n = 0;
async function layer(entries: E[], gzip = true): Promise<ProbeLayer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === undefined || e.type === 'file') pack.entry({ name: e.name, type: 'file' }, 'x');
    else pack.entry({ name: e.name, type: e.type, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  const raw = Buffer.concat(chunks);
  const bytes = gzip ? gzipSync(raw) : raw;
  const digest = `sha256:${String(++n).padStart(64, '0')}`;
  await writeFile(path.join(dir, digest.slice(7)), bytes);
  return { digest, size: bytes.length, mediaType: gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar' };
}

const blobs = {
  has: (d: string) => Promise.resolve(existsSync(path.join(dir, d.slice(7)))),
  path: (d: string) => path.join(dir, d.slice(7)),
};

describe('shellInLayers', () => {
  it('finds /bin/sh as a file, through a busybox symlink, and through merged /usr (bin -> usr/bin)', async () => {
    expect(await shellInLayers([await layer([{ name: 'bin/sh' }])], blobs)).toMatch(/^\/bin\/sh in/);
    expect(await shellInLayers([await layer([{ name: 'bin/', type: 'directory' }, { name: 'bin/busybox' }, { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' }])], blobs)).toMatch(/-> \/bin\/busybox/);
    const merged = await layer([{ name: 'bin', type: 'symlink', linkname: 'usr/bin' }, { name: 'usr/bin/dash' }, { name: 'usr/bin/sh', type: 'symlink', linkname: 'dash' }], false);
    expect(await shellInLayers([merged], blobs)).toMatch(/-> \/usr\/bin\/dash/);
    expect(await shellInLayers([await layer([{ name: 'bin/busybox' }, { name: 'bin/sh', type: 'link', linkname: 'bin/busybox' }])], blobs)).toMatch(/^\/bin\/sh in/);
  });

  it('says false when the layers have no /bin/sh: none, a dangling link, or deleted by a whiteout or an opaque directory', async () => {
    const base = await layer([{ name: 'bin/sh' }, { name: 'bin/ls' }]);
    expect(await shellInLayers([await layer([{ name: 'hello.txt' }])], blobs)).toBe(false);
    expect(await shellInLayers([await layer([{ name: 'bin/sh', type: 'symlink', linkname: 'dash' }])], blobs)).toBe(false);
    expect(await shellInLayers([base, await layer([{ name: 'bin/.wh.sh' }])], blobs)).toBe(false);
    expect(await shellInLayers([base, await layer([{ name: 'bin/.wh..wh..opq' }, { name: 'bin/ls' }])], blobs)).toBe(false);
    expect(await shellInLayers([base, await layer([{ name: '.wh.bin' }])], blobs)).toBe(false);
    expect(await shellInLayers([base, await layer([{ name: 'app/x' }])], blobs)).toMatch(/^\/bin\/sh in/);
  });

  it('cannot tell (undefined) when a layer is not in the cache', async () => {
    expect(await shellInLayers([{ digest: `sha256:${'f'.repeat(64)}`, size: 1, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }, await layer([{ name: 'x' }])], blobs)).toBeUndefined();
  });
});

describe('shellInConfig', () => {
  it('takes a RUN with /bin/sh -c in the history, or a CMD/ENTRYPOINT that is a shell', () => {
    expect(shellInConfig(JSON.stringify({ history: [{ created_by: 'RUN /bin/sh -c apt-get update # buildkit' }] }))).toMatch(/RUN/);
    expect(shellInConfig(JSON.stringify({ history: [{ created_by: '|1 X=y /bin/sh -c make' }] }))).toMatch(/RUN/);
    expect(shellInConfig(JSON.stringify({ config: { Cmd: ['sh'] } }))).toMatch(/CMD runs sh/);
    expect(shellInConfig(JSON.stringify({ config: { Cmd: ['/bin/bash'] } }))).toMatch(/CMD/);
  });
  it('does not take Docker "#(nop)" entries, other commands, or bad JSON', () => {
    expect(shellInConfig(JSON.stringify({ history: [{ created_by: '/bin/sh -c #(nop)  CMD ["python3"]' }], config: { Cmd: ['python3'] } }))).toBeUndefined();
    expect(shellInConfig(JSON.stringify({ history: [{ created_by: 'bazel build //distroless' }] }))).toBeUndefined();
    expect(shellInConfig('{')).toBeUndefined();
  });
});
