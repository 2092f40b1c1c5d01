/**
 * Benchmark 3: change one file in a 5,000-file context and rebuild + push. ferry must rebuild and
 * upload exactly the one layer that holds the file (checked from --json); buildah, with its layer
 * cache (`--layers`) and the same registry, does the same edit in the same run.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  benchMain,
  elapsedS,
  ferryPush,
  log,
  machine,
  machineLine,
  ms,
  ratio,
  runsFor,
  summarize,
  table,
  writeResult,
  type FerryPushResult,
} from './lib/common.js';
import { Buildah, startWorld, writeContext } from './lib/fixtures.js';

const NAME = 'one-file-change';
const DIRS = 50;
const FILES_PER_DIR = 100;

/** Deterministic text of 1–4 KiB per file, so the context looks like source code, not noise. */
function fileText(d: number, f: number): string {
  const lines = 20 + ((d * 31 + f * 17) % 60);
  let s = '';
  for (let i = 0; i < lines; i++) s += `export const value_${d}_${f}_${i} = ${(d * 7919 + f * 104729 + i * 1299709) % 1_000_003}; // module ${d}/${f}\n`;
  return s;
}

await benchMain(NAME, async (c) => {
  const started = performance.now();
  const runs = runsFor(7);
  const m = await machine();
  const { reg, base } = await startWorld(c);

  const dir = await c.tempDir('ctx');
  await writeContext(dir, {
    dockerfile: `FROM ${base.ref}\nCOPY . /app/\nWORKDIR /app\nCMD ["/bin/sh"]\n`,
    imageName: `${reg.host}/bench/ferry-edit`,
    insecureHost: reg.host,
  });
  for (let d = 0; d < DIRS; d++) {
    const sub = path.join(dir, 'src', `pkg-${String(d).padStart(2, '0')}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++) await writeFile(path.join(sub, `mod-${String(f).padStart(3, '0')}.ts`), fileText(d, f));
  }
  const edited = path.join(dir, 'src', 'pkg-17', 'mod-042.ts');
  const files = DIRS * FILES_PER_DIR + 2; // + Dockerfile and ferry.yaml, which are in the context too
  log(`context: ${files} files`);

  const cache = await c.tempDir('ferry-cache');
  const env = { FERRY_CACHE_DIR: cache, DOCKER_CONFIG: path.join(cache, 'no-docker-config') };
  const buildah = await Buildah.create(c, 'cached');
  const tag = 'localhost/bench/buildah-edit:latest';
  const ferryOnce = (): Promise<{ result: FerryPushResult; run: { ms: number } }> => ferryPush([], { cwd: dir, env });
  const buildahOnce = async (): Promise<{ budMs: number; pushMs: number; ms: number }> => {
    const bud = await buildah.bud(dir, tag, { layers: true });
    const push = await buildah.push(tag, `${reg.host}/bench/buildah-edit:latest`);
    return { budMs: bud.ms, pushMs: push.ms, ms: bud.ms + push.ms };
  };

  // Two warm-ups each: the first fills the caches and the registry; the second lets ferry's stat
  // cache keep files that were too new to trust the first time (its 2 s "racily clean" window).
  log('warm-up: 2 × (ferry push, buildah bud + push), not counted');
  for (let i = 0; i < 2; i++) {
    const f = await ferryOnce();
    const b = await buildahOnce();
    log(`warm-up ${i + 1}: ferry ${ms(f.run.ms)} (uploaded ${f.result.blobs.uploaded}), buildah ${ms(b.ms)}`);
  }

  const ferryRuns: { ms: number; uploaded: number; rebuiltLayers: number; bytesUploaded: number }[] = [];
  const buildahRuns: { budMs: number; pushMs: number; ms: number }[] = [];
  for (let i = 0; i < runs; i++) {
    await appendFile(edited, `export const edit_${i} = ${i};\n`);
    const order = i % 2 === 0 ? ['ferry', 'buildah'] : ['buildah', 'ferry'];
    for (const tool of order) {
      if (tool === 'ferry') {
        const { result, run } = await ferryOnce();
        const rebuilt = result.layers.filter((l) => l.source === 'build' && !l.reused);
        // One layer rebuilt, and two blobs up: that layer and the new config. Anything else means
        // the benchmark is not measuring what it says.
        if (rebuilt.length !== 1 || result.blobs.uploaded !== 2) {
          throw new Error(`expected 1 rebuilt layer and 2 uploads, got ${rebuilt.length} and ${JSON.stringify(result.blobs)}`);
        }
        ferryRuns.push({ ms: run.ms, uploaded: result.blobs.uploaded, rebuiltLayers: rebuilt.length, bytesUploaded: result.bytesUploaded });
        log(`run ${i + 1}/${runs}: ferry ${ms(run.ms)}, ${rebuilt.length} layer rebuilt, ${result.blobs.uploaded} blobs uploaded (${result.bytesUploaded} B)`);
      } else {
        const b = await buildahOnce();
        buildahRuns.push(b);
        log(`run ${i + 1}/${runs}: buildah bud ${ms(b.budMs)} + push ${ms(b.pushMs)} = ${ms(b.ms)}`);
      }
    }
  }

  const ft = summarize(ferryRuns.map((r) => r.ms), 0);
  const bt = summarize(buildahRuns.map((r) => r.ms), 0);
  const bb = summarize(buildahRuns.map((r) => r.budMs), 0);
  const bp = summarize(buildahRuns.map((r) => r.pushMs), 0);
  const r = ratio(ft.median, bt.median);
  const goalMet = ferryRuns.every((x) => x.rebuiltLayers === 1 && x.uploaded === 2);
  const markdown = [
    table(
      ['', 'median', 'min – max', 'what went up'],
      [
        ['ferry push (rebuild + push)', ms(ft.median), `${ms(ft.min)} – ${ms(ft.max)}`, `1 layer rebuilt; ${ferryRuns[0]?.uploaded ?? '?'} blobs (that layer + config), ~${Math.round((ferryRuns[0]?.bytesUploaded ?? 0) / 1024)} KiB`],
        ['buildah bud --layers + buildah push', ms(bt.median), `${ms(bt.min)} – ${ms(bt.max)}`, ''],
        ['  of which buildah bud', ms(bb.median), `${ms(bb.min)} – ${ms(bb.max)}`, ''],
        ['  of which buildah push', ms(bp.median), `${ms(bp.min)} – ${ms(bp.max)}`, ''],
        ['**ratio ferry / buildah (medians)**', `**${r}**`, '', ''],
      ],
    ),
    '',
    `Goal (only the changed layer rebuilt and uploaded): **${goalMet ? 'met' : 'MISSED'}** in all ${runs} runs (checked from --json). ${runs} runs each, alternating order, after 2 uncounted warm-ups each.`,
    '',
    `Machine: ${machineLine(m)}.`,
  ].join('\n');

  await writeResult({
    name: NAME,
    title: 'One file changed in a 5,000-file context',
    goal: 'only the layer holding the changed file is rebuilt and uploaded; time against buildah',
    goalMet,
    date: new Date().toISOString(),
    durationS: elapsedS(started),
    command: 'bench/run-all.sh one-file-change',
    machine: m,
    method: [
      `Context: ${DIRS} directories × ${FILES_PER_DIR} text files of 1–4 KiB (+ Dockerfile, ferry.yaml); Dockerfile: FROM <registry>/library/busybox:1.36, COPY . /app/, WORKDIR, CMD.`,
      'Each run appends one line to src/pkg-17/mod-042.ts, then runs both tools (alternating which goes first).',
      'ferry: `ferry push --json` with one FERRY_CACHE_DIR for the whole benchmark, same repository each time; checks 1 rebuilt layer and 2 uploaded blobs (layer + config).',
      'buildah: one storage root for the whole benchmark; `buildah bud --isolation chroot --layers=true` then `buildah push` to the same repository each time.',
    ],
    data: { runs, files, ferry: { ms: ft, runs: ferryRuns }, buildah: { ms: bt, budMs: bb, pushMs: bp }, ratioFerryOverBuildah: r },
    markdown,
  });
});
