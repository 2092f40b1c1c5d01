/**
 * The build context as a tar stream, for the Docker Engine API's POST /build. The daemon does not
 * read .dockerignore (the docker CLI applies it before sending), so ferry applies it here, with the
 * same matcher the native builder uses, and never follows a symlink out of the context. A
 * Dockerfile outside the context is sent under a name of its own, as the docker CLI does.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { scanContext } from '../native/context.js';
import { createIgnoreMatcher, parseDockerignore } from '../native/dockerignore.js';

export interface ContextTar {
  stream: Readable;
  /** The Dockerfile's name inside the tar. */
  dockerfile: string;
  /** Resolves when every entry was written (rejects with the first read error). */
  done: Promise<void>;
}

export async function contextTar(contextDir: string, dockerfile: string, exclude: readonly string[] = []): Promise<ContextTar> {
  const ignoreText = await readFile(path.join(contextDir, '.dockerignore'), 'utf8').catch(() => undefined);
  const ctx = await scanContext(contextDir, ignoreText === undefined ? undefined : createIgnoreMatcher(parseDockerignore(ignoreText)), exclude);
  const rel = path.relative(contextDir, dockerfile);
  const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  const relPosix = rel.split(path.sep).join('/');
  // Docker always sends the Dockerfile, even when .dockerignore names it.
  const dockerfileName = inside && ctx.entries.has(relPosix) ? relPosix : '.ferry-dockerfile';
  const pack = tar.pack();
  const done = (async (): Promise<void> => {
    try {
      for (const p of ctx.paths) {
        const e = ctx.entries.get(p);
        if (e === undefined) continue;
        const header = { name: e.rel, mode: e.mode & 0o7777, mtime: new Date(0), uid: 0, gid: 0 };
        if (e.type === 'dir') pack.entry({ ...header, type: 'directory' });
        else if (e.type === 'symlink') pack.entry({ ...header, type: 'symlink', linkname: e.linkname ?? '' });
        else {
          const entry = pack.entry({ ...header, type: 'file', size: e.size });
          await pipeline(createReadStream(e.abs), entry);
        }
      }
      if (dockerfileName === '.ferry-dockerfile') {
        const text = await readFile(dockerfile);
        pack.entry({ name: dockerfileName, mode: 0o644, mtime: new Date(0), size: text.byteLength }, text);
      }
      pack.finalize();
    } catch (e) {
      pack.destroy(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  })();
  // The caller observes failures through the stream; keep an unobserved rejection quiet here.
  done.catch(() => undefined);
  // tar-stream's pack is a streamx stream; node's Readable.from makes it one undici can send.
  return { stream: Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false }), dockerfile: dockerfileName, done };
}
