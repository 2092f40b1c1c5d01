/**
 * The handles of remote runs, kept in the user's state directory so that a later `ferry status`,
 * `ferry logs` or `ferry cancel` (`--id ID` or `--last`) can find a run that `deploy --async` left,
 * or that a Ctrl-C detached from. One small JSON file per deploy, written atomically (temporary
 * file, then rename), so two ferry processes never see half a handle.
 *
 * Where: $FERRY_STATE_DIR, else $XDG_STATE_HOME/ferry (the XDG spec's place for state that should
 * survive restarts but is not worth backing up; a relative value is invalid and ignored), else
 * ~/.local/state/ferry. Only the newest KEEP handles are kept.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { dataError, ExitCode, FerryError, usageError } from '../core/errors.js';
import type { Handle, RunStatus } from '../core/target.js';

/** Handles kept; older ones are removed when a new one is saved. */
export const KEEP = 200;
const VERSION = 1;

export interface StoredHandle {
  version: number;
  handle: Handle;
  /** The ferry.yaml the deploy read (absolute), for a person looking at the file. */
  config?: string;
  /** The last state ferry saw, and when. */
  lastStatus?: RunStatus;
  /** When the handle was first saved (kept by updates): breaks ties between runs created in the same millisecond. */
  savedAt?: string;
  updatedAt: string;
}

/**
 * The `ref` keys that name a run on its platform, which `--id` also accepts (a Batch job id, a
 * Lambda function name, …). Other ref values (a revision, a queue) name no run.
 */
export const RUN_ID_KEYS = ['jobId', 'jobName', 'jobArn', 'functionName', 'functionArn', 'requestId', 'driverContainer', 'driverPod'] as const;

export function resolveStateDir(env: Readonly<Record<string, string | undefined>> = process.env, cwd: string = process.cwd()): string {
  const own = env['FERRY_STATE_DIR'];
  if (own !== undefined && own !== '') return resolve(cwd, own);
  const xdg = env['XDG_STATE_HOME'];
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'ferry');
  const home = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir();
  return join(home, '.local', 'state', 'ferry');
}

/** Handle ids become file names: only this alphabet, so an id can never name a path elsewhere. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function stateError(e: unknown, dir: string, what: string): FerryError {
  const code = (e as NodeJS.ErrnoException | null)?.code ?? '';
  // Permissions or a path that is not a directory: the user's setup (78); a full disk may pass (75).
  const exitCode = ['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE'].includes(code) ? ExitCode.TEMPFAIL : ExitCode.CONFIG;
  return new FerryError('STATE_DIR_UNWRITABLE', `cannot ${what} in ferry's state directory ${dir} (${code || String(e)})`, {
    exitCode,
    cause: e,
    where: dir,
    suggestions: ['make the directory writable, or point FERRY_STATE_DIR (or XDG_STATE_HOME) at a writable directory'],
  });
}

export class HandleStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'handles');
  }

  static fromEnv(env: Readonly<Record<string, string | undefined>>, cwd: string): HandleStore {
    return new HandleStore(resolveStateDir(env, cwd));
  }

  async save(handle: Handle, extra: { config?: string; lastStatus?: RunStatus; savedAt?: string } = {}): Promise<string> {
    if (!SAFE_ID.test(handle.id)) throw new FerryError('INTERNAL', `handle id ${JSON.stringify(handle.id)} is not a safe file name`);
    const now = new Date().toISOString();
    const stored: StoredHandle = { version: VERSION, handle, savedAt: now, ...extra, updatedAt: now };
    const file = join(this.dir, `${handle.id}.json`);
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeFile(tmp, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw stateError(e, this.dir, `save the handle of ${handle.id}`);
    }
    await this.prune();
    return file;
  }

  /** Records the last state seen; a failure here never fails the run it describes. */
  async update(handle: Handle, lastStatus: RunStatus): Promise<void> {
    const current = await this.read(handle.id).catch(() => undefined);
    await this.save(handle, {
      ...(current?.config === undefined ? {} : { config: current.config }),
      ...(current?.savedAt === undefined ? {} : { savedAt: current.savedAt }),
      lastStatus,
    }).catch(() => undefined);
  }

  private async read(id: string): Promise<StoredHandle> {
    const file = join(this.dir, `${id}.json`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw e;
      throw dataError('HANDLE_UNREADABLE', `the handle file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, {
        cause: e,
        where: file,
        suggestions: ['delete or fix the file; the run itself is unaffected'],
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw dataError('HANDLE_UNREADABLE', `the handle file ${file} is not JSON`, { cause: e, where: file, suggestions: ['delete the file; the run itself is unaffected'] });
    }
    // The id names files (prune removes <id>.json), so it must be the file's own, safe name.
    if (!isStored(parsed) || parsed.handle.id !== id) {
      throw dataError('HANDLE_UNREADABLE', `the handle file ${file} is not a ferry handle (version ${VERSION})`, { where: file, suggestions: ['delete the file; the run itself is unaffected'] });
    }
    return parsed;
  }

  /** Every readable handle, newest first; unreadable files are reported through `skipped`. */
  async list(skipped?: (file: string, e: unknown) => void): Promise<StoredHandle[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw stateError(e, this.dir, 'list the handles');
    }
    const out: StoredHandle[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const id = name.slice(0, -'.json'.length);
      if (!SAFE_ID.test(id)) continue;
      try {
        out.push(await this.read(id));
      } catch (e) {
        skipped?.(join(this.dir, name), e);
      }
    }
    return out.sort(
      (a, b) =>
        b.handle.createdAt.localeCompare(a.handle.createdAt) || (b.savedAt ?? b.updatedAt).localeCompare(a.savedAt ?? a.updatedAt) || b.handle.id.localeCompare(a.handle.id),
    );
  }

  /**
   * `--id ID`: a handle id, a unique prefix of one, or one of the platform's own ids a handle
   * records (a Batch job id, a function name, …).
   */
  async find(id: string): Promise<StoredHandle> {
    if (SAFE_ID.test(id)) {
      try {
        return await this.read(id);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    const all = await this.list();
    const byRef = all.filter((s) => RUN_ID_KEYS.some((k) => s.handle.ref[k] === id));
    const byPrefix = all.filter((s) => s.handle.id.startsWith(id));
    const matches = byRef.length > 0 ? byRef : byPrefix;
    if (matches.length === 1 && matches[0] !== undefined) return matches[0];
    if (matches.length > 1) {
      throw usageError('HANDLE_AMBIGUOUS', `--id ${id} matches ${matches.length} runs: ${matches.slice(0, 5).map((s) => s.handle.id).join(', ')}${matches.length > 5 ? ', …' : ''}`, {
        where: '--id',
        suggestions: ['give more of the id (ferry prints it after each deploy; `--json` has it as handle.id)'],
      });
    }
    throw usageError('HANDLE_NOT_FOUND', `no run with id ${id} in ${this.dir}`, {
      where: '--id',
      suggestions: [
        'use the id `ferry deploy` printed (or handle.id from its --json), or --last for the newest run',
        `handles are kept per user, in FERRY_STATE_DIR or XDG_STATE_HOME (the newest ${KEEP})`,
      ],
    });
  }

  /** `--last`: the newest handle. */
  async last(skipped?: (file: string, e: unknown) => void): Promise<StoredHandle> {
    const [newest] = await this.list(skipped);
    if (newest === undefined) {
      throw usageError('HANDLE_NOT_FOUND', `no run recorded yet in ${this.dir}`, {
        where: '--last',
        suggestions: ['deploy to a remote target first (`ferry deploy TARGET`, or `--async`); then --last names that run'],
      });
    }
    return newest;
  }

  private async prune(): Promise<void> {
    const all = await this.list().catch(() => []);
    for (const old of all.slice(KEEP)) {
      await rm(join(this.dir, `${old.handle.id}.json`), { force: true }).catch(() => undefined);
    }
  }
}

function isStored(v: unknown): v is StoredHandle {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Partial<StoredHandle>;
  const h = s.handle as Partial<Handle> | undefined;
  return (
    s.version === VERSION &&
    typeof s.updatedAt === 'string' &&
    typeof h === 'object' &&
    typeof h.id === 'string' &&
    typeof h.type === 'string' &&
    typeof h.target === 'string' &&
    typeof h.createdAt === 'string' &&
    typeof h.ref === 'object' &&
    (h.ref as unknown) !== null
  );
}
