import path from 'node:path';
import { dataError } from '../../core/errors.js';
import type { LayerEntry } from '../../image/layer.js';
import { cleanSource, matchSources, subtree, type BuildContext, type ContextEntry } from './context.js';

/** One entry of a layer to write (the layer writer sorts, completes and tars these). */
export type PlannedEntry = LayerEntry;

export interface CopyOptions {
  workdir: string;
  owner: { uid: number; gid: number } | undefined;
  chmod: number | undefined;
  /** "Dockerfile:12", for errors. */
  where: string;
  /** Keep the source's modes (COPY --from an image or stage, whose modes are already the image's). */
  keepModes?: boolean;
}

/**
 * Turn `COPY src... dest` into layer entries with Docker's rules: sources are relative to the context
 * and may be wildcards (Go's filepath.Match); a directory source copies its contents, not itself;
 * several sources need a destination ending in "/"; a relative destination is relative to WORKDIR;
 * missing parent directories are created. Modes are normalised (0644/0755) so that a checkout's
 * umask does not change the digest; --chmod and --chown apply to everything the COPY creates.
 */
export function planCopy(ctx: BuildContext, sources: string[], dest: string, opts: CopyOptions): PlannedEntry[] {
  const matched: ContextEntry[] = [];
  for (const src of sources) {
    const cleaned = cleanSource(src, opts.where);
    const names = matchSources(ctx, cleaned);
    if (names.length === 0) {
      throw dataError('COPY_SOURCE_NOT_FOUND', `COPY source "${src}" matched nothing in the build context`, {
        where: opts.where,
        suggestions: ['check the path (it is relative to the context root) and that .dockerignore does not exclude it'],
      });
    }
    for (const n of names) {
      const e = ctx.entries.get(n);
      if (e) matched.push(followTopLevel(ctx, e, opts.where));
    }
  }
  // Docker: several sources, named or from a wildcard, need a directory destination ending in "/".
  const multiple = matched.length > 1;
  const destAbs = resolveDest(dest, opts.workdir);
  const destIsDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.') || matched.some((m) => m.type === 'dir');
  if (multiple && !dest.endsWith('/') && !(dest === '.' || dest.endsWith('/.'))) {
    throw dataError('COPY_DEST_NOT_DIR', `COPY with more than one source needs a destination ending in "/" (got "${dest}")`, {
      where: opts.where,
      suggestions: [`write the destination as "${dest}/"`],
    });
  }
  const owner = opts.owner ?? { uid: 0, gid: 0 };
  const out = new Map<string, PlannedEntry>();
  const addDir = (p: string): void => {
    if (p === '' || out.has(p)) return;
    out.set(p, { path: p, type: 'dir', mode: opts.chmod ?? 0o755, uid: owner.uid, gid: owner.gid });
  };
  const addParents = (p: string): void => {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) addDir(parts.slice(0, i).join('/'));
  };
  const put = (target: string, e: ContextEntry): void => {
    addParents(target);
    if (e.type === 'dir') {
      addDir(target);
      return;
    }
    const entry: PlannedEntry = {
      path: target,
      type: e.type,
      mode: e.type === 'symlink' ? 0o777 : (opts.chmod ?? (opts.keepModes === true ? e.mode : normaliseMode(e.mode))),
      uid: owner.uid,
      gid: owner.gid,
    };
    if (e.type === 'file') {
      entry.source = e.abs;
      entry.size = e.size;
    } else if (e.linkname !== undefined) {
      entry.linkname = e.linkname;
    }
    out.set(target, entry);
  };
  for (const m of matched) {
    if (m.type === 'dir') {
      addParents(destAbs);
      addDir(destAbs);
      const base = m.rel === '' ? '' : m.rel + '/';
      for (const child of subtree(ctx, m.rel)) {
        if (child.rel === m.rel) continue;
        const relInside = child.rel.slice(base.length);
        put(joinImage(destAbs, relInside), child);
      }
    } else {
      const target = destIsDir ? joinImage(destAbs, path.posix.basename(m.rel)) : destAbs;
      put(target, m);
    }
  }
  return [...out.values()];
}

/** Docker follows a symlink named directly as a source, within the context (like a chroot). */
function followTopLevel(ctx: BuildContext, e: ContextEntry, where: string): ContextEntry {
  let cur = e;
  for (let hops = 0; cur.type === 'symlink' && hops < 40; hops++) {
    const link = cur.linkname ?? '';
    const target = path.posix.isAbsolute(link) ? link.slice(1) : path.posix.join(path.posix.dirname(cur.rel), link);
    const norm = path.posix.normalize(target === '' ? '.' : target);
    if (norm === '..' || norm.startsWith('../')) {
      throw dataError('CONTEXT_SYMLINK_ESCAPE', `COPY source ${e.rel} is a symlink that leads outside the build context`, {
        where,
        suggestions: ['copy the real file into the context'],
      });
    }
    const next = ctx.entries.get(norm === '.' ? '' : norm);
    if (next === undefined) {
      throw dataError('COPY_SOURCE_NOT_FOUND', `COPY source ${e.rel} is a symlink to ${link}, which is not in the build context`, {
        where,
        suggestions: ['make sure the link target exists in the context and is not excluded by .dockerignore'],
      });
    }
    cur = next;
  }
  if (cur.type === 'symlink') {
    throw dataError('CONTEXT_SYMLINK_LOOP', `COPY source ${e.rel} is a symlink loop`, { where });
  }
  // A followed file is copied under the link's own name; a directory keeps its real path so that
  // its children can be listed (only its contents are copied, so its name does not matter).
  return cur.type === 'file' ? { ...cur, rel: e.rel } : cur;
}

function resolveDest(dest: string, workdir: string): string {
  const abs = path.posix.isAbsolute(dest) ? dest : path.posix.join(workdir || '/', dest);
  const norm = path.posix.normalize(abs);
  return norm.replace(/^\/+/, '').replace(/\/+$/, '');
}

function joinImage(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export function normaliseMode(mode: number): number {
  return (mode & 0o111) !== 0 ? 0o755 : 0o644;
}

/** `--chown=uid[:gid]`: numbers only in a native build (names need the image's /etc/passwd). */
export function parseChown(value: string, where: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(value);
  if (!m) {
    throw dataError('NATIVE_CHOWN_NAME', `--chown=${value}: the native builder needs numeric ids (uid[:gid])`, {
      where,
      suggestions: ['write the numeric ids, e.g. --chown=1000:1000, or use an engine builder, which reads the image\'s /etc/passwd'],
    });
  }
  const uid = Number(m[1]);
  return { uid, gid: m[2] === undefined ? uid : Number(m[2]) };
}

export function parseChmod(value: string, where: string): number {
  if (!/^[0-7]{3,4}$/.test(value)) {
    throw dataError('DOCKERFILE_BAD_CHMOD', `--chmod=${value} is not an octal mode`, {
      where,
      suggestions: ['write an octal mode such as --chmod=0755 or --chmod=644'],
    });
  }
  return parseInt(value, 8);
}
