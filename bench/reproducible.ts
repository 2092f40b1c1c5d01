/**
 * Benchmark 5: reproducibility. The same context, checked out twice at different paths, at
 * different times, with different file times, different umasks (at checkout and for ferry itself),
 * files created in a different order, and different FERRY_CACHE_DIRs, must build to the identical
 * digest; and so must the two builds with SOURCE_DATE_EPOCH set.
 */
import { chmod, lutimes, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchMain, elapsedS, ferryBuild, log, machine, machineLine, table, writeResult, type FerryBuildResult, type RunOpts } from './lib/common.js';
import { startWorld, writeContext } from './lib/fixtures.js';

const NAME = 'reproducible';
const SDE = '1700000000';

interface FileSpec {
  rel: string;
  content: string | Buffer;
  mode: number;
}

/** A small but varied tree: nested dirs, an executable, binary data, an empty file, an ignored file. */
function files(): FileSpec[] {
  const out: FileSpec[] = [
    { rel: 'bin/run.sh', content: '#!/bin/sh\necho run\n', mode: 0o755 },
    { rel: 'etc/app.conf', content: 'a = 1\nb = two\n', mode: 0o644 },
    { rel: 'data/empty.txt', content: '', mode: 0o644 },
    { rel: 'data/blob.bin', content: Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) % 251)), mode: 0o644 },
    { rel: 'notes/scratch.tmp', content: 'ignored by .dockerignore\n', mode: 0o644 },
    { rel: '.dockerignore', content: 'notes/\n*.tmp\n# they name the registry, whose port changes from run to run\nferry.yaml\nDockerfile\n', mode: 0o644 },
  ];
  for (let d = 0; d < 5; d++) for (let f = 0; f < 20; f++) out.push({ rel: `src/m${d}/f${f}.py`, content: `print(${d * 100 + f})\n`, mode: 0o644 });
  return out;
}

async function allPaths(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) out.push(path.join(e.parentPath, e.name));
  return out;
}

/**
 * Writes one checkout. `order` reverses creation order (other inode numbers and directory order);
 * `umask` is the process umask while writing (so the modes on disk differ); `mtime` is given to
 * every path afterwards (as `touch -d` would).
 */
async function checkout(dir: string, opts: { reverse: boolean; umask: number; mtime: Date }, writeCtx: (d: string) => Promise<void>): Promise<void> {
  const old = process.umask(opts.umask);
  try {
    await mkdir(dir, { recursive: true });
    const list = files();
    if (opts.reverse) list.reverse();
    for (const f of list) {
      await mkdir(path.dirname(path.join(dir, f.rel)), { recursive: true });
      await writeFile(path.join(dir, f.rel), f.content);
      // Keep only the executable bit's intent; the umask decides the rest, as in a git checkout.
      await chmod(path.join(dir, f.rel), f.mode & ~opts.umask);
    }
    await symlink('../etc/app.conf', path.join(dir, 'bin', 'app.conf'));
    await writeCtx(dir);
  } finally {
    process.umask(old);
  }
  for (const p of [dir, ...(await allPaths(dir))]) await lutimes(p, opts.mtime, opts.mtime);
}

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const m = await machine();
  const { reg, base } = await startWorld(c);
  const writeCtx = (d: string): Promise<void> =>
    writeContext(d, {
      dockerfile: `FROM ${base.ref}\nWORKDIR /srv\nCOPY . /srv/app/\nCOPY --chmod=0700 bin/run.sh /usr/local/bin/run\nENV MODE=batch\nENTRYPOINT ["/usr/local/bin/run"]\n`,
      imageName: `${reg.host}/bench/repro`,
      insecureHost: reg.host,
    });

  const rootA = await c.tempDir('checkout-a');
  const rootB = await c.tempDir('checkout-b');
  const a = path.join(rootA, 'work', 'ferry-pipeline');
  const b = path.join(rootB, 'home', 'someone', 'src', 'elsewhere', 'pipeline-clone');
  await checkout(a, { reverse: false, umask: 0o022, mtime: new Date() }, writeCtx);
  await checkout(b, { reverse: true, umask: 0o077, mtime: new Date('2001-02-03T04:05:06Z') }, writeCtx);

  const build = async (
    label: string,
    dir: string,
    umask: string,
    extraEnv: Record<string, string> = {},
    ownOutput = true,
  ): Promise<FerryBuildResult & { label: string; at: string }> => {
    const cache = await c.tempDir(`cache-${label}`);
    const opts: RunOpts = { cwd: dir, umask, env: { FERRY_CACHE_DIR: cache, DOCKER_CONFIG: path.join(cache, 'none'), ...extraEnv } };
    const at = new Date().toISOString();
    const { result } = await ferryBuild(ownOutput ? ['--output', `oci:${path.join(cache, 'layout')}`] : [], opts);
    log(`${label}: ${result.digest} (at ${at}, umask ${umask}${extraEnv['SOURCE_DATE_EPOCH'] === undefined ? '' : `, SOURCE_DATE_EPOCH=${extraEnv['SOURCE_DATE_EPOCH']}`})`);
    return { ...result, label, at };
  };

  const a1 = await build('A', a, '022');
  await sleep(2500); // a later time, in whole seconds
  const b1 = await build('B', b, '077');
  const a2 = await build('A+SDE', a, '022', { SOURCE_DATE_EPOCH: SDE });
  await sleep(1500);
  const b2 = await build('B+SDE', b, '077', { SOURCE_DATE_EPOCH: SDE });

  // The plain case a user meets first: the same checkout, built twice with the default output
  // (.ferry/oci next to ferry.yaml, which with `context: .` is inside the context).
  const c1 = await build('A, default output, 1st', a, '022', {}, false);
  await sleep(1500);
  const c2 = await build('A, default output, 2nd', a, '022', {}, false);

  const sameLayers = (x: FerryBuildResult, y: FerryBuildResult): boolean => JSON.stringify(x.layers.map((l) => l.digest)) === JSON.stringify(y.layers.map((l) => l.digest));
  const plain = a1.digest === b1.digest && sameLayers(a1, b1);
  const sde = a2.digest === b2.digest && sameLayers(a2, b2);
  const twice = c1.digest === c2.digest;
  const goalMet = plain && sde && twice;
  const rows = [a1, b1, a2, b2, c1, c2].map((r) => [r.label, `\`${r.digest}\``, r.layers.filter((l) => l.source === 'build').map((l) => l.digest.slice(7, 19)).join(', ')]);
  const markdown = [
    table(['build', 'image digest', 'build layers (short)'], rows),
    '',
    `Identical without SOURCE_DATE_EPOCH: **${plain ? 'yes' : 'NO'}**. Identical with SOURCE_DATE_EPOCH=${SDE}: **${sde ? 'yes' : 'NO'}**. ` +
      `(With and without SOURCE_DATE_EPOCH differ, as they should: ${a1.digest !== a2.digest ? 'yes' : 'NO, they are equal'}.) ` +
      `Same checkout built twice with the default output (.ferry/oci inside the context): **${twice ? 'identical' : 'DIFFERENT'}**.`,
    '',
    `A: ${path.relative(rootA, a)} under a temp dir, written in order, umask 022, mtimes = now, ferry run with umask 022. ` +
      `B: ${path.relative(rootB, b)} under another temp dir, written in reverse order, umask 077 (files 0600, dirs 0700 on disk), mtimes = 2001-02-03, ferry run with umask 077, built ≥ 2.5 s later. Each build has its own new FERRY_CACHE_DIR.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'Reproducible digests',
    goal: 'identical digests across checkout paths, times, mtimes, umasks and caches; with SOURCE_DATE_EPOCH; and twice in one checkout',
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh reproducible',
    machine: m,
    method: [
      `Context: ${files().length} files (nested dirs, an executable, binary data, an empty file, a symlink inside the context, a .dockerignore'd dir) + Dockerfile: FROM busybox base, WORKDIR, COPY . , COPY --chmod, ENV, ENTRYPOINT.`,
      'Checkouts A and B differ in path, creation order, umask at creation, mtimes, the umask ferry runs under, the time of the build and FERRY_CACHE_DIR.',
      `Then both again with SOURCE_DATE_EPOCH=${SDE}, new caches.`,
      'Command: `ferry build --json --output oci:<cache>/layout` in the checkout.',
      'Last, checkout A built twice more with the default output (no --output: .ferry/oci next to ferry.yaml), new caches, 1.5 s apart.',
    ],
    data: { builds: [a1, b1, a2, b2, c1, c2].map((r) => ({ label: r.label, at: r.at, digest: r.digest, layers: r.layers.map((l) => l.digest) })), identical: plain, identicalWithSourceDateEpoch: sde, identicalTwiceWithDefaultOutput: twice },
    markdown,
  });
});
