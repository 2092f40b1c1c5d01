import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { dataError } from '../../core/errors.js';

/**
 * The build context as the native builder sees it: every path under the root that .dockerignore
 * keeps, listed once with lstat data and never followed through a symlink. Nothing outside the
 * root is ever read: a source that climbs out (`../x`) or reaches out through a symlink is refused.
 */
export interface ContextEntry {
  /** Posix path relative to the context root, no leading "./" or "/". The root itself is "". */
  rel: string;
  type: 'file' | 'dir' | 'symlink';
  /** Absolute path on disk. */
  abs: string;
  mode: number;
  size: number;
  mtimeNs: bigint;
  ino: bigint;
  linkname?: string;
}

export interface IgnoreLike {
  ignores(rel: string, isDir: boolean): boolean;
  /** True when nothing under this (ignored) directory could be re-included by an exception. */
  canSkipDir?(rel: string): boolean;
}

export interface BuildContext {
  root: string;
  entries: Map<string, ContextEntry>;
  /** Sorted list of entry paths (excluding the root). */
  paths: string[];
}

/**
 * @param exclude absolute paths never part of the context, whatever .dockerignore says: ferry's own
 *   output (.ferry/ next to ferry.yaml, the --output layout), which lives inside the context in the
 *   common layout and would otherwise change the next build's `COPY . .` layer.
 */
export async function scanContext(root: string, ignore: IgnoreLike | undefined, exclude: readonly string[] = []): Promise<BuildContext> {
  const entries = new Map<string, ContextEntry>();
  const rootStat = await lstat(root).catch((e: unknown) => {
    throw dataError('CONTEXT_NOT_FOUND', `build context ${root} does not exist`, {
      where: root,
      cause: e,
      suggestions: ['check image.context in ferry.yaml (it is relative to ferry.yaml)'],
    });
  });
  if (!rootStat.isDirectory()) {
    throw dataError('CONTEXT_NOT_A_DIRECTORY', `build context ${root} is not a directory`, {
      where: root,
      suggestions: ['image.context must name a directory'],
    });
  }
  entries.set('', { rel: '', type: 'dir', abs: root, mode: 0o755, size: 0, mtimeNs: 0n, ino: 0n });
  const skip = new Set(exclude.map((p) => path.relative(root, p)).filter((rel) => rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)).map((rel) => rel.split(path.sep).join('/')));
  await walk(root, '', entries, skip.size === 0 ? ignore : withExclusions(ignore, skip), root);
  const paths = [...entries.keys()].filter((p) => p !== '').sort();
  return { root, entries, paths };
}

function withExclusions(ignore: IgnoreLike | undefined, skip: ReadonlySet<string>): IgnoreLike {
  const excluded = (rel: string): boolean => {
    for (const s of skip) if (rel === s || rel.startsWith(s + '/')) return true;
    return false;
  };
  return {
    ignores: (rel, isDir) => excluded(rel) || (ignore?.ignores(rel, isDir) ?? false),
    canSkipDir: (rel) => excluded(rel) || (ignore?.canSkipDir?.(rel) ?? true),
  };
}

async function walk(root: string, relDir: string, out: Map<string, ContextEntry>, ignore: IgnoreLike | undefined, ctxRoot: string): Promise<void> {
  const absDir = relDir === '' ? root : path.join(root, relDir);
  const names = await readdir(absDir);
  names.sort();
  for (const name of names) {
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const abs = path.join(absDir, name);
    const st = await lstat(abs, { bigint: true });
    const isDir = st.isDirectory();
    const ignored = ignore?.ignores(rel, isDir) ?? false;
    if (isDir) {
      if (ignored && (ignore?.canSkipDir?.(rel) ?? true)) continue;
      const before = out.size;
      if (!ignored) out.set(rel, entryFrom(rel, abs, 'dir', st));
      await walk(root, rel, out, ignore, ctxRoot);
      // Docker sends an excluded directory anyway when an exception re-includes something in it.
      if (ignored && out.size > before) out.set(rel, entryFrom(rel, abs, 'dir', st));
      continue;
    }
    if (ignored) continue;
    if (st.isSymbolicLink()) {
      const linkname = await readlink(abs);
      checkSymlink(rel, linkname);
      out.set(rel, { ...entryFrom(rel, abs, 'symlink', st), linkname });
    } else if (st.isFile()) {
      out.set(rel, entryFrom(rel, abs, 'file', st));
    }
    // Sockets, FIFOs and devices cannot be meaningfully copied into an image; Docker skips them too.
  }
}

function entryFrom(rel: string, abs: string, type: ContextEntry['type'], st: import('node:fs').BigIntStats): ContextEntry {
  return { rel, abs, type, mode: Number(st.mode & 0o7777n), size: Number(st.size), mtimeNs: st.mtimeNs, ino: st.ino };
}

/**
 * A relative symlink that climbs above the context root would let an image reference host files by
 * accident, so it is refused. Absolute targets name paths inside the image (a virtualenv's
 * bin/python -> /usr/bin/python3), are kept as links and are never followed by ferry.
 */
function checkSymlink(rel: string, linkname: string): void {
  if (path.posix.isAbsolute(linkname)) return;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), linkname));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw dataError('CONTEXT_SYMLINK_ESCAPE', `symlink ${rel} -> ${linkname} leads outside the build context`, {
      where: rel,
      suggestions: [
        'copy the target into the context instead of linking to it, or add the link to .dockerignore',
      ],
    });
  }
}

/**
 * Clean a COPY/ADD source the way Docker does (relative to the context root, leading "/" ignored)
 * and refuse anything that would climb out of the root.
 */
export function cleanSource(src: string, where: string): string {
  const trimmed = src.replace(/^\/+/, '');
  const norm = path.posix.normalize(trimmed === '' ? '.' : trimmed);
  if (norm === '..' || norm.startsWith('../')) {
    throw dataError('CONTEXT_PATH_ESCAPE', `COPY source "${src}" is outside the build context`, {
      where,
      suggestions: ['sources are relative to the context root; move the file into the context or widen image.context'],
    });
  }
  return norm === '.' ? '' : norm.replace(/\/$/, '');
}

const GLOB_CHARS = /[*?[\\]/;

export function hasGlob(p: string): boolean {
  return GLOB_CHARS.test(p);
}

/** Go's filepath.Match for one path segment, which Docker uses for COPY sources. */
export function segmentMatcher(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern.charAt(++i));
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close === -1) re += '\\[';
      else {
        let body = pattern.slice(i + 1, close);
        if (body.startsWith('^') || body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Context paths that a (possibly wildcard) COPY source names; [] when nothing matches. */
export function matchSources(ctx: BuildContext, cleaned: string): string[] {
  if (!hasGlob(cleaned)) return ctx.entries.has(cleaned) ? [cleaned] : [];
  const segs = cleaned.split('/');
  const matchers = segs.map((s) => (hasGlob(s) ? segmentMatcher(s) : undefined));
  return ctx.paths.filter((p) => {
    const parts = p.split('/');
    if (parts.length !== segs.length) return false;
    return parts.every((part, i) => {
      const m = matchers[i];
      return m === undefined ? part === segs[i] : m.test(part);
    });
  });
}

/** Every context entry at or below rel, the entry itself first. */
export function subtree(ctx: BuildContext, rel: string): ContextEntry[] {
  const out: ContextEntry[] = [];
  const self = ctx.entries.get(rel);
  if (self) out.push(self);
  const prefix = rel === '' ? '' : rel + '/';
  for (const p of ctx.paths) {
    if (p.startsWith(prefix) && p !== rel) {
      const e = ctx.entries.get(p);
      if (e) out.push(e);
    }
  }
  return out;
}
