import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { dataError } from '../../core/errors.js';
import { layerCompression } from '../../image/media-types.js';
import type { Descriptor } from '../../image/types.js';
import type { BuildContext, ContextEntry } from './context.js';
import type { PlannedEntry } from './copy.js';
import type { BuiltLayer, ImageSource, RegistryPool } from './builder.js';

/**
 * The files of another stage or image, for COPY --from. Layers are read from the registry as
 * streams and their files kept as numbered blobs in a temp folder with the tree only in memory:
 * nothing is ever written at a path taken from a tar header, so a hostile layer (`../`, absolute
 * names, symlinked parents) cannot write outside the temp folder. Whiteouts are applied as the
 * OCI image spec says (`.wh.NAME` deletes, `.wh..wh..opq` hides the lower layers' children).
 */
export class StageFs {
  private tmp: string | undefined;
  private counter = 0;
  private readonly cache = new Map<string, BuildContext>();

  constructor(
    private readonly cacheDir: string,
    private readonly registries: RegistryPool,
  ) {}

  async forStage(index: number, chain: { layers: BuiltLayer[]; ownEntries: PlannedEntry[][] }, where: string): Promise<BuildContext> {
    const key = `stage:${index}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const tree = new Map<string, ContextEntry>();
    for (const l of chain.layers) {
      if (l.origin.kind !== 'registry') continue;
      await this.extract(tree, l.origin.registry, l.origin.repository, l.descriptor, where);
    }
    for (const layer of chain.ownEntries) {
      for (const e of layer) {
        const entry: ContextEntry = { rel: e.path, type: e.type, abs: e.source ?? '', mode: e.mode, size: e.size ?? 0, mtimeNs: 0n, ino: 0n };
        if (e.linkname !== undefined) entry.linkname = e.linkname;
        if (e.type === 'dir' && tree.get(e.path)?.type === 'dir') continue;
        removeTree(tree, e.path);
        tree.set(e.path, entry);
      }
    }
    const ctx = toContext(tree);
    this.cache.set(key, ctx);
    return ctx;
  }

  async forImage(source: ImageSource, digest: string, layers: Descriptor[], where: string): Promise<BuildContext> {
    const key = `image:${source.registry}/${source.repository}@${digest}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const tree = new Map<string, ContextEntry>();
    for (const d of layers) await this.extract(tree, source.registry, source.repository, d, where);
    const ctx = toContext(tree);
    this.cache.set(key, ctx);
    return ctx;
  }

  async dispose(): Promise<void> {
    if (this.tmp !== undefined) await rm(this.tmp, { recursive: true, force: true });
  }

  private async dir(): Promise<string> {
    if (this.tmp === undefined) {
      await mkdir(path.join(this.cacheDir, 'tmp'), { recursive: true });
      this.tmp = await mkdtemp(path.join(this.cacheDir, 'tmp', 'stage-fs-'));
    }
    return this.tmp;
  }

  private async extract(tree: Map<string, ContextEntry>, registry: string, repository: string, d: Descriptor, where: string): Promise<void> {
    const dir = await this.dir();
    const client = this.registries.client(registry);
    const body = await client.getBlob(repository, d);
    const compression = layerCompression(d.mediaType);
    let stream: Readable = body;
    if (compression === 'gzip') stream = body.pipe(zlib.createGunzip());
    else if (compression === 'zstd') {
      const zstd = (zlib as unknown as { createZstdDecompress?: () => import('node:stream').Transform }).createZstdDecompress;
      if (zstd === undefined) {
        throw dataError('IMAGE_UNSUPPORTED_COMPRESSION', `layer ${d.digest} is zstd-compressed, which this Node.js cannot read`, {
          where,
          suggestions: ['use Node.js 22.15 or newer, or a gzip-compressed base image'],
        });
      }
      stream = body.pipe(zstd());
    }
    const extract = tar.extract();
    const opaque = new Set<string>();
    const seen = new Set<string>();
    const done = pipeline(stream, extract as unknown as NodeJS.WritableStream);
    for await (const entry of extract) {
      const h = entry.header;
      const rel = cleanTarPath(h.name);
      const base = path.posix.basename(rel);
      const parent = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
      if (rel === '' || hasSymlinkParent(tree, rel)) {
        entry.resume();
        continue;
      }
      if (base === '.wh..wh..opq') {
        // Children from lower layers go; this layer's own entries (already seen) stay.
        for (const p of [...tree.keys()]) if (p.startsWith(parent === '' ? '' : parent + '/') && p !== parent && !seen.has(p)) tree.delete(p);
        opaque.add(parent);
        entry.resume();
        continue;
      }
      if (base.startsWith('.wh.')) {
        removeTree(tree, parent === '' ? base.slice(4) : `${parent}/${base.slice(4)}`);
        entry.resume();
        continue;
      }
      seen.add(rel);
      const mode = h.mode & 0o7777;
      if (h.type === 'directory') {
        const existing = tree.get(rel);
        if (existing?.type !== 'dir') removeTree(tree, rel);
        tree.set(rel, { rel, type: 'dir', abs: '', mode, size: 0, mtimeNs: 0n, ino: 0n });
        entry.resume();
      } else if (h.type === 'symlink') {
        removeTree(tree, rel);
        tree.set(rel, { rel, type: 'symlink', abs: '', mode: 0o777, size: 0, mtimeNs: 0n, ino: 0n, linkname: text(h.linkname) });
        entry.resume();
      } else if (h.type === 'link') {
        const target = tree.get(cleanTarPath(text(h.linkname)));
        removeTree(tree, rel);
        if (target?.type === 'file') tree.set(rel, { ...target, rel, mode });
        entry.resume();
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        const file = path.join(dir, `f${++this.counter}`);
        await pipeline(entry, createWriteStream(file));
        removeTree(tree, rel);
        tree.set(rel, { rel, type: 'file', abs: file, mode, size: typeof h.size === 'number' ? h.size : 0, mtimeNs: 0n, ino: 0n });
      } else {
        // Devices and FIFOs cannot be copied by COPY into a layer ferry writes; Docker's COPY of
        // them is rare enough that skipping is the honest choice.
        entry.resume();
      }
    }
    await done;
  }
}

/** tar headers come from untrusted layers: treat a missing field as empty, whatever the typings say. */
function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function cleanTarPath(name: string): string {
  const norm = path.posix.normalize('/' + name).slice(1);
  return norm.replace(/\/+$/, '');
}

function hasSymlinkParent(tree: Map<string, ContextEntry>, rel: string): boolean {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    if (tree.get(parts.slice(0, i).join('/'))?.type === 'symlink') return true;
  }
  return false;
}

function removeTree(tree: Map<string, ContextEntry>, rel: string): void {
  const existing = tree.get(rel);
  tree.delete(rel);
  // Only a directory has children; skipping the scan keeps extraction linear for plain files.
  if (existing !== undefined && existing.type !== 'dir') return;
  const prefix = rel + '/';
  for (const p of [...tree.keys()]) if (p.startsWith(prefix)) tree.delete(p);
}

function toContext(tree: Map<string, ContextEntry>): BuildContext {
  const entries = new Map(tree);
  entries.set('', { rel: '', type: 'dir', abs: '', mode: 0o755, size: 0, mtimeNs: 0n, ino: 0n });
  return { root: '/', entries, paths: [...tree.keys()].sort() };
}
