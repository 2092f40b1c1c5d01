/**
 * Hybrid builds: engine once, native after.
 *
 * Most pipeline Dockerfiles end with COPY of the code plus ENV/CMD/ENTRYPOINT after the last RUN.
 * ferry cuts the target stage after its last step that needs an engine. The prefix (everything up
 * to that step) is built by an engine and cached under a content hash of what it is made of: its
 * Dockerfile text, the context files its COPY/ADD steps read, the base images' digests, the build
 * args and the platform. The suffix is applied natively on top of the prefix image.
 *
 * The prefix is found again locally (ferry's cache) or, on a fresh CI runner with an empty cache
 * and no engine, in the registry: `ferry push` tags it there as `NAME:ferry-prefix-<hash>`. Its
 * layers are the final image's own first layers, so that tag costs one small config blob.
 * Editing only the code then rebuilds with no engine at all and uploads only the changed layer.
 *
 * Line numbers are kept: the suffix Dockerfile ferry writes has every kept instruction on its
 * original line (the rest blank), so an error in the suffix names the user's own line.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Reporter } from '../core/context.js';
import { FerryError } from '../core/errors.js';
import { parseImageRef } from '../core/image-ref.js';
import { Digest } from '../image/digest.js';
import { formatPlatform } from '../image/platform.js';
import type { LayerCache } from '../image/layer-cache.js';
import { ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME, configPlatform, MAX_CONFIG_BYTES, parseImageConfig, parseImageManifest, type Platform } from '../image/types.js';
import { readLimited } from '../infra/http.js';
import { scanContext, cleanSource, matchSources, subtree } from './native/context.js';
import { createIgnoreMatcher, parseDockerignore } from './native/dockerignore.js';
import { externalImages, instructionNeedsEngine, isRemoteSource, parseMountSpec, type BuildPlan, type Instruction, type ResolvedStage } from './native/dockerfile.js';
import { resolveBase, type BaseImage, type BuiltImage, type BuiltLayer, type RegistryPool } from './native/builder.js';

export const PREFIX_TAG_PREFIX = 'ferry-prefix-';
const PREFIX_FORMAT = 1;

export interface HybridSplit {
  stage: ResolvedStage;
  /** The last instruction that needs an engine; the prefix ends with it. */
  last: Instruction;
  /** The Dockerfile text up to and including `last`. */
  prefixText: string;
  /** The suffix as a Dockerfile on `FROM <placeholder>`, every line where it was. */
  suffixText(placeholder: string): string;
  /** The target stage sets CMD before the cut (an ENTRYPOINT after it must keep that CMD, as Docker does). */
  cmdInPrefix: boolean;
}

/**
 * Where to cut, or undefined when a hybrid build would not help or cannot be done natively: no
 * step after the last RUN, a suffix step the native builder cannot do, or a suffix that copies
 * from another stage (that stage's files would need the engine).
 */
export function planHybrid(plan: BuildPlan, text: string): HybridSplit | undefined {
  const stage = plan.target;
  const needsEngine = instructionNeedsEngine;
  let cut = -1;
  stage.instructions.forEach((i, n) => {
    if (needsEngine(i)) cut = n;
  });
  if (cut < 0) return undefined;
  const suffix = stage.instructions.slice(cut + 1);
  if (suffix.length === 0) return undefined;
  if (suffix.some((i) => i.kind === 'COPY' && i.from !== undefined)) return undefined;
  if (suffix.some((i) => i.kind === 'ONBUILD')) return undefined;
  const last = stage.instructions[cut];
  if (last === undefined) return undefined;
  // ADD of a URL or a git repository reads something no content hash of the context can see, and
  // Docker checks it again on every build: such a prefix is never reused, so no hybrid build.
  const inPrefix = plan.dockerfile.instructions.filter((i) => i.line <= last.line);
  if (inPrefix.some((i) => i.kind === 'ADD' && i.sources.some(isRemoteSource))) return undefined;
  const lines = text.split('\n');
  const prefixText = lines.slice(0, last.endLine).join('\n') + '\n';
  const df = plan.dockerfile;
  return {
    stage,
    last,
    prefixText,
    cmdInPrefix: stage.instructions.slice(0, cut).some((i) => i.kind === 'CMD'),
    suffixText: (placeholder) => {
      const out: string[] = lines.map(() => '');
      const keep = (i: Instruction): void => {
        for (let l = i.line; l <= i.endLine; l++) out[l - 1] = lines[l - 1] ?? '';
      };
      // Parser directives (# escape=, # syntax=) sit on the first lines and must stay there.
      for (let l = 0; l < lines.length && /^\s*#\s*[a-zA-Z]+\s*=/.test(lines[l] ?? ''); l++) out[l] = lines[l] ?? '';
      for (const a of df.metaArgs) keep(a);
      out[stage.from.line - 1] = `FROM ${placeholder}`;
      for (let l = stage.from.line + 1; l <= stage.from.endLine; l++) out[l - 1] = '';
      // The stage's ARGs before the cut: their values are not in the image config, the suffix may use them.
      for (const i of stage.instructions.slice(0, cut)) if (i.kind === 'ARG') keep(i);
      for (const i of suffix) keep(i);
      return out.join('\n') + '\n';
    },
  };
}

export interface PrefixKeyInput {
  split: HybridSplit;
  plan: BuildPlan;
  contextDir: string;
  excludeFromContext: string[];
  platform: Platform;
  buildArgs: Record<string, string>;
  secretIds: string[];
  cache: LayerCache;
  registries: RegistryPool;
  mirrors?: Readonly<Record<string, string | readonly string[]>> | undefined;
  reporter: Reporter;
}

/**
 * The content hash of the prefix: its text, build args and platform, the digest of every registry
 * image its FROM lines name, and the content and mode of every context file its COPY/ADD steps
 * read. A step whose sources hold variables makes the whole context part of the hash.
 */
export async function prefixKey(input: PrefixKeyInput): Promise<string> {
  const { split, plan } = input;
  const file = plan.dockerfile.file;
  const prefixStages = plan.stages.filter((s) => s.from.line <= split.last.line);
  const bases: string[] = [];
  const imageDigest = async (ref: string, line: number): Promise<void> => {
    const b = await resolveBase(ref, input.platform, `${file}:${line}`, input);
    bases.push(`${ref}@${b.digest}`);
  };
  // Every image the prefix reads, by digest: FROM bases, COPY --from and RUN --mount (bind) images.
  for (const img of externalImages(plan, { stages: prefixStages, untilLine: split.last.line })) {
    if (img.via !== 'mount' || img.mountType === 'bind') await imageDigest(img.ref, img.line);
  }
  const ignoreText = await readFile(path.join(input.contextDir, '.dockerignore'), 'utf8').catch(() => undefined);
  const ctx = await scanContext(input.contextDir, ignoreText === undefined ? undefined : createIgnoreMatcher(parseDockerignore(ignoreText)), input.excludeFromContext);
  const read = new Set<string>();
  let wholeContext = false;
  /** A context source as BuildKit reads it; anything through a symlink or a variable: the whole context. */
  const addSource = (src: string, line: number): void => {
    if (src.includes('$')) {
      wholeContext = true;
      return;
    }
    const cleaned = cleanSource(src, `${file}:${line}`);
    // BuildKit follows symlinks (a linked file, a linked directory on the way): their targets
    // may be anywhere in the context, so the whole context is hashed.
    const parts = cleaned.split('/');
    for (let n = 1; n < parts.length; n++) if (ctx.entries.get(parts.slice(0, n).join('/'))?.type === 'symlink') wholeContext = true;
    const matched = matchSources(ctx, cleaned);
    if (matched.length === 0) wholeContext = true;
    for (const rel of matched) {
      for (const e of subtree(ctx, rel)) {
        if (e.type === 'symlink') wholeContext = true;
        read.add(e.rel);
      }
    }
  };
  for (const i of plan.dockerfile.instructions) {
    if (i.line > split.last.line) break;
    // Another stage is hashed through its own instructions; an image through its digest (above).
    if (i.kind === 'COPY' && i.from !== undefined) continue;
    if (i.kind === 'COPY' || i.kind === 'ADD') {
      for (const src of i.sources) if (!isRemoteSource(src)) addSource(src, i.line);
      continue;
    }
    if (i.kind === 'RUN') {
      for (const m of i.mounts) {
        const f = parseMountSpec(m);
        if ((f.get('type') ?? 'bind') !== 'bind') continue;
        // A stage is covered by its own instructions; an image by its digest (above).
        if (f.get('from') !== undefined) continue;
        const source = f.get('source') ?? f.get('src') ?? '.';
        if (source === '.' || source === '' || source === '/') wholeContext = true;
        else addSource(source, i.line);
      }
    }
  }
  const files: string[][] = [];
  for (const rel of wholeContext ? ctx.paths : [...read].sort()) {
    const e = ctx.entries.get(rel);
    if (e === undefined) continue;
    const content = e.type === 'file' ? (await input.cache.stats.hash(e.abs)).sha256 : e.type === 'symlink' ? (e.linkname ?? '') : '';
    files.push([rel, e.type, (e.mode & 0o7777).toString(8), content]);
  }
  const description = JSON.stringify({
    format: `ferry-prefix/${PREFIX_FORMAT}`,
    dockerfile: split.prefixText,
    platform: formatPlatform(input.platform),
    buildArgs: Object.entries(input.buildArgs).sort(([a], [b]) => a.localeCompare(b)),
    secrets: [...input.secretIds].sort(),
    bases,
    files,
  });
  return Digest.of(description).hex;
}

/** A prefix image: as the suffix's base, plus its own manifest and config (to tag it in a registry). */
export interface PrefixImage {
  base: BaseImage;
  manifestBytes: Buffer;
  configBytes: Buffer;
}

interface PrefixRecord {
  manifest: string;
  config: string;
  layers: { digest: string; origin: BuiltLayer['origin']; built: boolean }[];
  reportAs: { name: string; digest: string } | null;
}

/** A prefix image ferry built before: in the local cache, complete (its local layers still there). */
export async function lookupLocalPrefix(cache: LayerCache, key: string): Promise<PrefixImage | undefined> {
  let rec: PrefixRecord;
  try {
    rec = JSON.parse(await readFile(prefixRecordPath(cache, key), 'utf8')) as PrefixRecord;
  } catch {
    return undefined;
  }
  try {
    const manifestBytes = await cache.blobs.readBytes(rec.manifest, 4 * 1024 * 1024);
    const configBytes = await cache.blobs.readBytes(rec.config, 64 * 1024 * 1024);
    const manifest = parseImageManifest(manifestBytes);
    for (const [i, l] of manifest.layers.entries()) {
      if (rec.layers[i]?.origin.kind === 'local' && !(await cache.blobs.has(l.digest, l.size))) return undefined;
    }
    return {
      manifestBytes,
      configBytes,
      base: {
        ref: parseImageRef(placeholderRef(key)),
        source: { registry: 'localhost', repository: 'ferry-prefix' },
        digest: rec.manifest,
        config: parseImageConfig(configBytes),
        layers: manifest.layers,
        origins: rec.layers.map((l) => l.origin),
        built: rec.layers.map((l) => l.built),
        reportAs: rec.reportAs,
      },
    };
  } catch {
    return undefined;
  }
}

/** Records a prefix image in the local cache: its manifest and config as blobs, and where its layers are. */
export async function storeLocalPrefix(cache: LayerCache, key: string, image: BuiltImage): Promise<PrefixImage> {
  await cache.blobs.putBytes(image.manifestBytes);
  await cache.blobs.putBytes(image.configBytes);
  const rec: PrefixRecord = {
    manifest: image.digest,
    config: image.manifest.config.digest,
    layers: image.layers.map((l) => ({ digest: l.descriptor.digest, origin: l.origin, built: l.built })),
    reportAs: image.base,
  };
  const file = prefixRecordPath(cache, key);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(rec));
  await rename(tmp, file);
  return {
    manifestBytes: image.manifestBytes,
    configBytes: image.configBytes,
    base: {
      ref: parseImageRef(placeholderRef(key)),
      source: { registry: 'localhost', repository: 'ferry-prefix' },
      digest: image.digest,
      config: image.config,
      layers: image.manifest.layers,
      origins: rec.layers.map((l) => l.origin),
      built: rec.layers.map((l) => l.built),
      reportAs: image.base,
    },
  };
}

/** On a prefix image's manifest: how many of its first layers are its base image's (the rest the engine built). */
export const ANNOTATION_BASE_LAYERS = 'dev.ferry.prefix.base-layers';

/** The prefix pushed earlier to `registry/repository:ferry-prefix-<key>`, or undefined. */
export async function lookupRegistryPrefix(
  key: string,
  repo: { registry: string; repository: string },
  platform: Platform,
  registries: RegistryPool,
  reporter: Reporter,
): Promise<BaseImage | undefined> {
  const ref = `${repo.registry}/${repo.repository}:${prefixTag(key)}`;
  try {
    const client = registries.client(repo.registry);
    const m = await client.getManifest(repo.repository, prefixTag(key));
    const manifest = parseImageManifest(m.bytes, { where: ref });
    const config = parseImageConfig(await readLimited(await client.getBlob(repo.repository, manifest.config), MAX_CONFIG_BYTES), { where: `${ref} config` });
    const got = configPlatform(config);
    if (got.os !== platform.os || got.architecture !== platform.architecture) return undefined;
    // What the prefix was built on, and which layers the engine made: recorded on its manifest when it was built.
    const a = manifest.annotations ?? {};
    const baseName = a[ANNOTATION_BASE_NAME];
    const baseDigest = a[ANNOTATION_BASE_DIGEST];
    const baseLayers = Number(a[ANNOTATION_BASE_LAYERS] ?? '0');
    return {
      ref: parseImageRef(ref),
      source: { registry: repo.registry, repository: repo.repository },
      digest: m.digest,
      config,
      layers: manifest.layers,
      built: manifest.layers.map((_, i) => i >= baseLayers),
      reportAs: baseName !== undefined && baseDigest !== undefined ? { name: baseName, digest: baseDigest } : null,
    };
  } catch (e) {
    reporter.debug(`prefix ${ref} not found in the registry (${e instanceof FerryError ? e.code : String(e)})`);
    return undefined;
  }
}

export function prefixTag(key: string): string {
  return `${PREFIX_TAG_PREFIX}${key}`;
}

export function placeholderRef(key: string): string {
  return `localhost/ferry-prefix:${key.slice(0, 32)}`;
}

function prefixRecordPath(cache: LayerCache, key: string): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new FerryError('INTERNAL', `bad prefix key ${key}`);
  return path.join(cache.dir, 'prefixes', `${key}.json`);
}
