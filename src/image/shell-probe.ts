/**
 * Does an image have a POSIX shell at /bin/sh? `deploy --each` on AWS Batch needs one to turn the
 * child's AWS_BATCH_JOB_ARRAY_INDEX into its value (Batch has no per-child environment), so ferry
 * checks before it wraps the command, in two cheap ways:
 *
 * 1. the filesystem, when every layer is in ferry's blob cache (layers ferry built always are; base
 *    layers are once `ferry build` or `ferry plan` has fetched them): the layers are applied in
 *    order, names only (whiteouts and opaque directories honoured), and /bin/sh is resolved through
 *    symlinks (`/bin -> usr/bin`, `sh -> dash`, `sh -> /bin/busybox`) to a regular file;
 * 2. otherwise the image config: a RUN that ran `/bin/sh -c` (Docker and BuildKit both record it in
 *    the history), or a CMD/ENTRYPOINT that starts a shell.
 *
 * Neither downloads anything. No answer means "no shell, or ferry cannot tell".
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { layerCompression } from './media-types.js';

export interface ProbeLayer {
  digest: string;
  mediaType: string;
  size: number;
}

/** Where the probe reads layer blobs: ferry's blob cache. */
export interface ProbeBlobs {
  has(digest: string, size?: number): Promise<boolean>;
  path(digest: string): string;
}

type Node = { type: 'file' | 'dir' | 'other' } | { type: 'symlink'; link: string };

/**
 * "/bin/sh in the image's layers" when the layers (all in the cache) have /bin/sh resolving to a
 * file; `false` when they are all there and it does not; `undefined` when a layer is missing or
 * cannot be read (then the caller falls back to the config).
 */
export async function shellInLayers(layers: readonly ProbeLayer[], blobs: ProbeBlobs): Promise<string | false | undefined> {
  for (const l of layers) {
    if (!(await blobs.has(l.digest, l.size))) return undefined;
    if (layerCompression(l.mediaType) === 'zstd' && zstdStream() === undefined) return undefined;
  }
  const tree = new Map<string, Node>();
  for (const l of layers) {
    try {
      await applyLayer(tree, blobs.path(l.digest), l.mediaType);
    } catch {
      return undefined;
    }
  }
  const target = resolveFile(tree, 'bin/sh');
  return target === undefined ? false : `/bin/sh${target === 'bin/sh' ? '' : ` (-> /${target})`} in the image's layers`;
}

/** Why the image config says the image has /bin/sh, or undefined. */
export function shellInConfig(configBytes: Buffer | string): string | undefined {
  let parsed: { history?: unknown; config?: { Cmd?: unknown; Entrypoint?: unknown } | null };
  try {
    parsed = JSON.parse(typeof configBytes === 'string' ? configBytes : configBytes.toString('utf8')) as typeof parsed;
  } catch {
    return undefined;
  }
  const history = Array.isArray(parsed.history) ? (parsed.history as { created_by?: unknown }[]) : [];
  for (const h of history) {
    const by = typeof h.created_by === 'string' ? h.created_by : '';
    // Docker writes "/bin/sh -c #(nop) CMD …" for instructions that ran nothing: not evidence.
    if (/(^|\s)\/bin\/sh -c (?!#\(nop\))/.test(by)) return 'a RUN step ran /bin/sh -c (image history)';
  }
  for (const key of ['Entrypoint', 'Cmd'] as const) {
    const v = parsed.config?.[key];
    const first = Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
    if (first !== undefined && /^(\/usr)?(\/bin\/)?(sh|bash|ash|dash)$/.test(first)) return `its ${key === 'Cmd' ? 'CMD' : 'ENTRYPOINT'} runs ${first}`;
  }
  return undefined;
}

function zstdStream(): (() => Transform) | undefined {
  return (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
}

async function applyLayer(tree: Map<string, Node>, file: string, mediaType: string): Promise<void> {
  const compression = layerCompression(mediaType);
  let stream: Readable = createReadStream(file);
  if (compression === 'gzip') stream = stream.pipe(zlib.createGunzip());
  else if (compression === 'zstd') stream = stream.pipe((zstdStream() as () => Transform)());
  const extract = tar.extract();
  const done = pipeline(stream, extract as unknown as NodeJS.WritableStream);
  const seen = new Set<string>();
  for await (const entry of extract) {
    const h = entry.header;
    entry.resume();
    const rel = clean(h.name);
    if (rel === '') continue;
    const base = path.posix.basename(rel);
    const parent = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
    if (base === '.wh..wh..opq') {
      // Lower layers' children of `parent` go; this layer's own entries stay.
      const prefix = parent === '' ? '' : `${parent}/`;
      for (const p of [...tree.keys()]) if (p.startsWith(prefix) && p !== parent && !seen.has(p)) tree.delete(p);
      continue;
    }
    if (base.startsWith('.wh.')) {
      remove(tree, parent === '' ? base.slice(4) : `${parent}/${base.slice(4)}`);
      continue;
    }
    seen.add(rel);
    const existing = tree.get(rel);
    // An entry replaces what lower layers had there (a directory keeps its children only when it stays one).
    if (existing !== undefined && !(existing.type === 'dir' && h.type === 'directory')) remove(tree, rel);
    if (h.type === 'directory') {
      tree.set(rel, { type: 'dir' });
    } else if (h.type === 'symlink') {
      tree.set(rel, { type: 'symlink', link: typeof h.linkname === 'string' ? h.linkname : '' });
    } else if (h.type === 'link') {
      // A hard link is its target's file.
      const target = tree.get(clean(typeof h.linkname === 'string' ? h.linkname : ''));
      tree.set(rel, target?.type === 'file' ? { type: 'file' } : { type: 'other' });
    } else {
      tree.set(rel, { type: h.type === 'file' || h.type === 'contiguous-file' ? 'file' : 'other' });
    }
  }
  await done;
}

function clean(name: string): string {
  return path.posix.normalize('/' + name).slice(1).replace(/\/+$/, '');
}

function remove(tree: Map<string, Node>, rel: string): void {
  const existing = tree.get(rel);
  tree.delete(rel);
  // A directory may have no entry of its own (layers may leave it out): then only a scan finds its children.
  if (existing === undefined || existing.type === 'dir') for (const p of [...tree.keys()]) if (p.startsWith(`${rel}/`)) tree.delete(p);
}

/** The path a file resolves to through symlinks (as the kernel would, from /), or undefined. */
export function resolveFile(tree: ReadonlyMap<string, Node>, rel: string, depth = 0): string | undefined {
  if (depth > 40) return undefined;
  const parts = rel.split('/').filter((p) => p !== '');
  let cur = '';
  for (const [i, part] of parts.entries()) {
    const next = cur === '' ? part : `${cur}/${part}`;
    const node = tree.get(next);
    const last = i === parts.length - 1;
    if (node === undefined) {
      // Layers may leave out a parent directory's own entry: it exists when anything is under it.
      if (last) return undefined;
      cur = next;
      continue;
    }
    if (node.type === 'symlink') {
      const target = node.link.startsWith('/') ? clean(node.link) : clean(path.posix.join(cur, node.link));
      return resolveFile(tree, [target, ...parts.slice(i + 1)].filter((p) => p !== '').join('/'), depth + 1);
    }
    if (last) return node.type === 'file' ? next : undefined;
    if (node.type !== 'dir') return undefined;
    cur = next;
  }
  return undefined;
}
