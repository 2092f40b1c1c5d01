import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Reporter } from '../../core/context.js';
import { formatBytes, shortDigest } from '../../ui/format.js';
import { dataError, ExitCode, FerryError } from '../../core/errors.js';
import { parseImageRef, type ImageRef } from '../../core/image-ref.js';
import { Digest, type DigestString } from '../../image/digest.js';
import { encodeJson } from '../../image/json-blob.js';
import type { CachedLayerResult, LayerCache } from '../../image/layer-cache.js';
import { writeLayer, type LayerOptions } from '../../image/layer.js';
import { convertLayerMediaType, isIndexMediaType, MediaType } from '../../image/media-types.js';
import { formatPlatform, matchPlatform, parsePlatform } from '../../image/platform.js';
import {
  configPlatform,
  MAX_CONFIG_BYTES,
  parseImageConfig,
  parseManifestOrIndex,
  type ContainerConfig,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  type Platform,
} from '../../image/types.js';
import type { RegistryClient } from '../../registry/client.js';
import { readLimited } from '../../infra/http.js';
import { scanContext, type BuildContext } from './context.js';
import { planCopy, parseChmod, parseChown, type PlannedEntry } from './copy.js';
import { parseDockerignore, createIgnoreMatcher } from './dockerignore.js';
import {
  assertNativeBuildable,
  commandLine,
  isLocalArchiveName,
  isRemoteSource,
  parseDockerfile,
  parseExposedPorts,
  platformArgs,
  resolveBuildPlan,
  resolveCopySource,
  StageScope,
  type BuildPlan,
  type Instruction,
  type ResolvedStage,
} from './dockerfile.js';
import { StageFs } from './stage-fs.js';

/** Gives a registry client for a registry host (credentials and TLS settings are the pool's). */
export interface RegistryPool {
  client(registry: string): RegistryClient;
  /** Credentials ferry has for `registry` of its own (ECR tokens), for an engine's pulls; see SharedRegistryPool. */
  engineCredential?(registry: string): Promise<{ username: string; password: string; source: string } | undefined>;
}

export interface NativeBuildRequest {
  dockerfile: string;
  /** How the Dockerfile is named in messages ("Dockerfile", "sub/Dockerfile.prod"). */
  dockerfileDisplay: string;
  contextDir: string;
  platform: Platform;
  buildArgs: Record<string, string>;
  target?: string | undefined;
  noCache: boolean;
  /** Seconds since the epoch for every file time and the config's `created`. */
  epoch: number;
  cache: LayerCache;
  registries: RegistryPool;
  reporter: Reporter;
  /** Absolute paths left out of the context: ferry's own output directories. */
  excludeFromContext?: string[];
  /** registries.mirrors: registry → mirror(s) to read base images from first. */
  mirrors?: Readonly<Record<string, string | readonly string[]>> | undefined;
  /**
   * Images to use instead of resolving a FROM (keyed by the reference as written): a hybrid build's
   * prefix, which may live in the local cache rather than in a registry.
   */
  baseOverrides?: ReadonlyMap<string, BaseImage> | undefined;
  /** false: the caller judges unused build args itself (a hybrid suffix sees only part of the file). */
  warnUnusedArgs?: boolean;
  /** `--label` / image.labels: added to the final image's labels, as `docker build --label` does. */
  labels?: Readonly<Record<string, string>> | undefined;
}

/** Where a layer's bytes are: in the local blob store, or still only in a registry. */
export type LayerOrigin = { kind: 'local' } | { kind: 'registry'; registry: string; repository: string };

export interface BuiltLayer {
  descriptor: Descriptor;
  diffId: DigestString;
  origin: LayerOrigin;
  /** Built by this build (false for base-image layers). */
  built: boolean;
  /** The layer came from ferry's cache: nothing was tarred or compressed. */
  reused: boolean;
  createdBy: string;
}

export interface BuiltImage {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  digest: DigestString;
  config: ImageConfig;
  configBytes: Buffer;
  layers: BuiltLayer[];
  platform: Platform;
  base: { name: string; digest: string } | null;
  warnings: string[];
}

interface StageResult {
  config: ImageConfig;
  /** Its variables: a stage built FROM this one inherits its ENV and ARG values. */
  scope: StageScope;
  layers: BuiltLayer[];
  /** Own COPY layers' entries, for COPY --from this stage. */
  ownEntries: PlannedEntry[][];
  base: { name: string; digest: string } | null;
  /** For a stage on a stage: the parent's result (COPY --from needs the whole chain). */
  parent: StageResult | undefined;
}

export interface BaseImage {
  ref: ImageRef;
  /** Per layer, where it is, when not all in `source` (a hybrid prefix: some local, some in a registry). */
  origins?: LayerOrigin[];
  /** Per layer, whether this build made it (a hybrid prefix's engine layers) rather than a base image. */
  built?: boolean[];
  /** CMD was set in the stage this image continues (a hybrid prefix): an ENTRYPOINT then keeps it. */
  cmdSetInStage?: boolean;
  /** What to report as the image's base instead of this image (a hybrid prefix reports the real base). */
  reportAs?: { name: string; digest: string } | null;
  /** Where its manifest and blobs were found (a mirror, or its own registry). */
  source: ImageSource;
  digest: string;
  config: ImageConfig;
  layers: Descriptor[];
}

/**
 * The daemonless builder: Dockerfiles made only of file and metadata instructions (COPY, ADD of
 * local files, ENV, LABEL, ...) become an image without running anything. A base image is resolved
 * to a digest and its layers are referenced, never unpacked, unless a COPY --from needs its files.
 * Each COPY is one layer, written reproducibly and cached by content, so a rebuild with unchanged
 * files neither tars nor compresses anything.
 */
export async function buildNative(req: NativeBuildRequest): Promise<BuiltImage> {
  const text = await readFile(req.dockerfile, 'utf8').catch((e: unknown) => {
    throw dataError('DOCKERFILE_NOT_FOUND', `cannot read ${req.dockerfileDisplay}`, {
      where: req.dockerfileDisplay,
      cause: e,
      suggestions: ['check image.dockerfile in ferry.yaml (it is relative to the context)'],
    });
  });
  const df = parseDockerfile(text, { file: req.dockerfileDisplay });
  const warnings = df.warnings.map((w) => `${req.dockerfileDisplay}:${w.line}: ${w.message}`);
  for (const w of warnings) req.reporter.warn(w);

  const targetPlatform = formatPlatform(req.platform);
  const plan = resolveBuildPlan(df, {
    ...(req.target !== undefined ? { target: req.target } : {}),
    buildArgs: req.buildArgs,
    // A native build runs nothing, so the build platform is the target platform.
    builtinArgs: platformArgs({ buildPlatform: targetPlatform, targetPlatform }),
  });
  assertNativeBuildable(plan);
  if (req.warnUnusedArgs !== false) warnUnusedBuildArgs(plan, req);

  const ignoreFile = path.join(req.contextDir, '.dockerignore');
  const ignoreText = await readFile(ignoreFile, 'utf8').catch(() => undefined);
  const context = await scanContext(
    req.contextDir,
    ignoreText === undefined ? undefined : createIgnoreMatcher(parseDockerignore(ignoreText)),
    req.excludeFromContext ?? [],
  );

  const results = new Map<number, StageResult>();
  const stageFs = new StageFs(req.cache.dir, req.registries);
  try {
    for (const stage of plan.required) {
      req.reporter.info(`[${stageLabel(stage)}] FROM ${stage.resolvedBaseName}`);
      results.set(stage.index, await buildStage(stage, plan, context, results, stageFs, req));
    }
  } finally {
    await stageFs.dispose();
  }
  await req.cache.save();

  const final = results.get(plan.target.index);
  if (final === undefined) throw new FerryError('INTERNAL', 'target stage was not built');
  if (req.labels !== undefined && Object.keys(req.labels).length > 0) {
    final.config.config = { ...(final.config.config ?? {}), Labels: { ...(final.config.config?.Labels ?? {}), ...req.labels } };
  }
  const configBytes = encodeJson(final.config);
  const configDigest = Digest.of(configBytes).toString();
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: configDigest, size: configBytes.byteLength },
    layers: final.layers.map((l) => l.descriptor),
  };
  if (final.base !== null) {
    manifest.annotations = {
      'org.opencontainers.image.base.name': final.base.name,
      'org.opencontainers.image.base.digest': final.base.digest,
    };
  }
  const manifestBytes = encodeJson(manifest);
  return {
    manifest,
    manifestBytes,
    digest: Digest.of(manifestBytes).toString(),
    config: final.config,
    configBytes,
    layers: final.layers,
    platform: configPlatform(final.config),
    base: final.base,
    warnings,
  };
}

async function buildStage(
  stage: ResolvedStage,
  plan: BuildPlan,
  context: BuildContext,
  results: Map<number, StageResult>,
  stageFs: StageFs,
  req: NativeBuildRequest,
): Promise<StageResult> {
  const where = (i: { line: number }): string => `${plan.dockerfile.file}:${i.line}`;
  const platform =
    stage.resolvedPlatform !== undefined ? parsePlatform(stage.resolvedPlatform, { where: where(stage.from), kind: 'data' }) : req.platform;
  const created = new Date(req.epoch * 1000).toISOString();

  let config: ImageConfig;
  let layers: BuiltLayer[];
  let base: StageResult['base'] = null;
  let parent: StageResult | undefined;
  if (stage.base.kind === 'scratch') {
    config = emptyConfig(platform);
    layers = [];
  } else if (stage.base.kind === 'stage') {
    parent = results.get(stage.base.index);
    if (parent === undefined) throw new FerryError('INTERNAL', `stage ${stage.base.name} was not built before ${stageLabel(stage)}`);
    config = structuredClone(parent.config);
    layers = [...parent.layers];
    base = parent.base;
  } else {
    const b = req.baseOverrides?.get(stage.base.ref) ?? (await resolveBase(stage.base.ref, platform, where(stage.from), req));
    config = structuredClone(b.config);
    base = b.reportAs !== undefined ? b.reportAs : { name: b.ref.familiar(), digest: b.digest };
    const history = (b.config.history ?? []).filter((h) => h.empty_layer !== true);
    layers = b.layers.map((d, i) => ({
      descriptor: { mediaType: convertLayerMediaType(d.mediaType, 'oci'), digest: d.digest, size: d.size, ...(d.urls ? { urls: d.urls } : {}) },
      diffId: b.config.rootfs.diff_ids[i] ?? ('' as DigestString),
      origin: b.origins?.[i] ?? { kind: 'registry', registry: b.source.registry, repository: b.source.repository },
      built: b.built?.[i] ?? false,
      reused: true,
      createdBy: b.built?.[i] === true ? (history[i]?.created_by ?? '').replace(/^\/bin\/sh -c (#\(nop\) )?/, '') : `base ${b.reportAs?.name ?? b.ref.familiar()}`,
    }));
    if (b.config.rootfs.diff_ids.length !== b.layers.length) {
      throw dataError('IMAGE_BAD_CONFIG', `base image ${b.ref.familiar()} lists ${b.layers.length} layers but ${b.config.rootfs.diff_ids.length} diff_ids`, {
        where: where(stage.from),
      });
    }
  }
  config.created = created;
  config.history = [...(config.history ?? [])];
  const cc: ContainerConfig = { ...(config.config ?? {}) };
  const scope = parent !== undefined ? parent.scope.child() : StageScope.fromPlan(plan, cc.Env ?? []);
  const ownEntries: PlannedEntry[][] = [];
  let cmdSetHere = stage.base.kind === 'image' && req.baseOverrides?.get(stage.base.ref)?.cmdSetInStage === true;

  const history = (i: Instruction, emptyLayer: boolean): void => {
    const h: HistoryEntry = { created, created_by: i.original, comment: 'ferry' };
    if (emptyLayer) h.empty_layer = true;
    config.history?.push(h);
  };

  for (const raw of stage.instructions) {
    const i = scope.apply(raw);
    const shell = cc.Shell ?? ['/bin/sh', '-c'];
    switch (i.kind) {
      case 'ARG':
        history(i, true);
        break;
      case 'ENV':
        cc.Env = scope.configEnv;
        history(i, true);
        break;
      case 'LABEL':
        cc.Labels = { ...(cc.Labels ?? {}) };
        for (const p of i.pairs) cc.Labels[p.key] = p.value;
        history(i, true);
        break;
      case 'WORKDIR': {
        // BuildKit (NormalizeWorkdir) joins a relative WORKDIR onto the current one, which cleans
        // it, and keeps an absolute one as written.
        cc.WorkingDir = path.posix.isAbsolute(i.path) ? i.path : path.posix.join(cc.WorkingDir ?? '/', i.path);
        history(i, true);
        break;
      }
      case 'USER':
        cc.User = i.user;
        history(i, true);
        break;
      case 'EXPOSE':
        cc.ExposedPorts = { ...(cc.ExposedPorts ?? {}) };
        for (const p of parseExposedPorts(i.ports, where(i))) cc.ExposedPorts[p] = {};
        history(i, true);
        break;
      case 'ENTRYPOINT':
        // BuildKit: `ENTRYPOINT []` clears the entrypoint rather than setting an empty one.
        if (i.json && i.command.length === 0) delete cc.Entrypoint;
        else cc.Entrypoint = commandLine(i, shell);
        // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
        if (!cmdSetHere) delete cc.Cmd;
        history(i, true);
        break;
      case 'CMD':
        cc.Cmd = commandLine(i, shell);
        cmdSetHere = true;
        history(i, true);
        break;
      case 'SHELL':
        cc.Shell = [...i.shell];
        history(i, true);
        break;
      case 'STOPSIGNAL':
        cc.StopSignal = i.signal;
        history(i, true);
        break;
      case 'VOLUME':
        cc.Volumes = { ...(cc.Volumes ?? {}) };
        for (const v of i.volumes) cc.Volumes[v] = {};
        history(i, true);
        break;
      case 'HEALTHCHECK': {
        const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: i.test };
        if (i.interval !== undefined) hc.Interval = i.interval;
        if (i.timeout !== undefined) hc.Timeout = i.timeout;
        if (i.startPeriod !== undefined) hc.StartPeriod = i.startPeriod;
        if (i.startInterval !== undefined) hc.StartInterval = i.startInterval;
        if (i.retries !== undefined) hc.Retries = i.retries;
        cc.Healthcheck = hc;
        history(i, true);
        break;
      }
      case 'MAINTAINER':
        config.author = i.maintainer;
        history(i, true);
        break;
      case 'COPY':
      case 'ADD': {
        const w = where(i);
        if (i.kind === 'ADD') {
          // Sources are judged again after expansion: `ADD $URL` is only known to be remote now.
          const bad = i.sources.find((s) => isRemoteSource(s) || (i.unpack !== false && isLocalArchiveName(s)));
          if (bad !== undefined) {
            throw dataError('NATIVE_UNSUPPORTED', `ADD ${bad} at ${w} needs an engine builder (it downloads or unpacks)`, {
              where: w,
              suggestions: ['use COPY for plain local files', 'use an engine builder (--builder buildah|podman|docker)'],
            });
          }
        }
        const owner = i.chown !== undefined ? parseChown(i.chown, w) : undefined;
        const chmod = i.chmod !== undefined ? parseChmod(i.chmod, w) : undefined;
        let source = context;
        let fromStage = false;
        if (i.kind === 'COPY' && i.from !== undefined) {
          const src = resolveCopySource(plan, i);
          fromStage = true;
          if (src?.kind === 'stage') {
            const r = results.get(src.index);
            if (r === undefined) throw new FerryError('INTERNAL', `stage ${src.index} was not built before ${w}`);
            source = await stageFs.forStage(src.index, stageChain(r), w);
          } else if (src?.kind === 'image') {
            const b = await resolveBase(src.ref, platform, w, req);
            source = await stageFs.forImage(b.source, b.digest, b.layers, w);
          }
        }
        const entries = planCopy(source, i.sources, i.dest, { workdir: cc.WorkingDir ?? '/', owner, chmod, where: w, keepModes: fromStage });
        const layer = await writeCopyLayer(req, entries, { mtime: req.epoch, parentDirs: { mode: 0o755, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 } });
        ownEntries.push(entries);
        req.reporter.info(`[${stageLabel(stage)}] ${i.original.slice(0, 80)}  ${layer.reused ? 'cached' : 'built'} ${shortDigest(layer.digest)} (${formatBytes(layer.size)})`);
        layers.push({
          descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
          diffId: layer.diffId,
          origin: { kind: 'local' },
          built: true,
          reused: layer.reused,
          createdBy: i.original,
        });
        history(i, false);
        break;
      }
      case 'FROM':
      case 'RUN':
      case 'ONBUILD':
        // assertNativeBuildable has refused these already.
        throw new FerryError('INTERNAL', `${i.kind} reached the native builder at ${where(i)}`);
    }
  }
  // BuildKit records PATH (its default when the base has none) and every ENV in the config.
  cc.Env = scope.configEnv;
  config.config = cc;
  config.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffId) };
  if (stage.base.kind === 'scratch') Object.assign(config, platformFields(platform));
  return { config, scope, layers, ownEntries, base, parent };
}

async function writeCopyLayer(req: NativeBuildRequest, entries: PlannedEntry[], opts: Omit<LayerOptions, 'store'>): Promise<CachedLayerResult> {
  if (!req.noCache) return req.cache.getOrWrite(entries, opts);
  // --no-cache: tar and compress again, but still record the result for the next build.
  const { key, entries: list } = await req.cache.key(entries, opts);
  const res = await writeLayer(list, { ...opts, store: req.cache.blobs });
  await req.cache.put(key, res);
  return { ...res, reused: false, key };
}

function stageChain(r: StageResult): { layers: BuiltLayer[]; ownEntries: PlannedEntry[][] } {
  // Own entries of every stage in a FROM-stage chain, oldest first, with the chain's base layers.
  const chain: StageResult[] = [];
  for (let cur: StageResult | undefined = r; cur !== undefined; cur = cur.parent) chain.unshift(cur);
  const baseLayers = r.layers.filter((l) => !l.built);
  return { layers: baseLayers, ownEntries: chain.flatMap((c) => c.ownEntries) };
}

/** Where a base image's bytes are read from: its own registry, or a mirror of it. */
export interface ImageSource {
  registry: string;
  repository: string;
}

/**
 * The places to read `ref` from, in order: each mirror configured for its registry
 * (registries.mirrors: `docker.io: 127.0.0.1:5000/mirror` serves docker.io/library/python as
 * 127.0.0.1:5000/mirror/library/python), then the registry itself.
 */
export function imageSources(ref: ImageRef, mirrors: Readonly<Record<string, string | readonly string[]>> | undefined): ImageSource[] {
  const configured = mirrors?.[ref.registry];
  const list = configured === undefined ? [] : typeof configured === 'string' ? [configured] : configured;
  const out: ImageSource[] = list.map((m) => {
    const slash = m.indexOf('/');
    const registry = slash === -1 ? m : m.slice(0, slash);
    const prefix = slash === -1 ? '' : m.slice(slash + 1).replace(/\/+$/, '');
    return { registry, repository: prefix === '' ? ref.repository : `${prefix}/${ref.repository}` };
  });
  out.push({ registry: ref.registry, repository: ref.repository });
  return out;
}

/** A mirror that lacks the image, or cannot be reached, gives way to the next source. */
function mirrorMiss(e: unknown): boolean {
  return e instanceof FerryError && (e.code === 'REGISTRY_NOT_FOUND' || e.exitCode === ExitCode.UNAVAILABLE || e.exitCode === ExitCode.TEMPFAIL);
}

type ResolveRequest = Pick<NativeBuildRequest, 'mirrors' | 'registries' | 'reporter'>;

/** A base image resolved for a platform: from each mirror in turn, then its own registry. */
export async function resolveBase(refText: string, platform: Platform, where: string, req: ResolveRequest): Promise<BaseImage> {
  const ref = parseImageRef(refText, where);
  const sources = imageSources(ref, req.mirrors);
  let mirrorError: FerryError | undefined;
  for (const [i, source] of sources.entries()) {
    const isOrigin = i === sources.length - 1;
    try {
      return await resolveFrom(ref, source, platform, where, req);
    } catch (e) {
      if (isOrigin || !mirrorMiss(e)) {
        // Offline behind a mirror, the registry's own "unreachable" says less than the mirror's answer.
        if (isOrigin && mirrorError !== undefined && e instanceof FerryError && e.exitCode === ExitCode.UNAVAILABLE) {
          throw new FerryError(mirrorError.code, `${mirrorError.message} (and ${ref.registry} itself is unreachable: ${e.message})`, {
            exitCode: mirrorError.exitCode,
            where,
            cause: mirrorError,
            suggestions: [`push ${ref.familiar()} to the mirror, or check registries.mirrors in ferry.yaml`],
          });
        }
        throw e;
      }
      mirrorError ??= e as FerryError;
      req.reporter.info(`  mirror ${source.registry}/${source.repository} has no ${ref.familiar()} (${(e as FerryError).code}); trying the next source`);
    }
  }
  throw new FerryError('INTERNAL', `no source to resolve ${ref.familiar()} from`);
}

async function resolveFrom(ref: ImageRef, source: ImageSource, platform: Platform, where: string, req: ResolveRequest): Promise<BaseImage> {
  const client = req.registries.client(source.registry);
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const from = `${source.registry}/${source.repository}`;
  req.reporter.debug(`resolving ${ref.toString()} for ${formatPlatform(platform)} from ${from}`);
  let m = await client.getManifest(source.repository, reference);
  let parsed = parseManifestOrIndex(m.bytes, { where: from, contentType: m.mediaType });
  if (parsed.kind === 'index' || isIndexMediaType(m.mediaType)) {
    if (parsed.kind !== 'index') throw dataError('IMAGE_BAD_MANIFEST', `${ref.toString()} says it is an index but is not`, { where });
    const chosen = matchPlatform(parsed.index.manifests, platform);
    if (chosen === undefined) {
      const have = parsed.index.manifests.flatMap((d) => (d.platform ? [formatPlatform(d.platform)] : []));
      throw dataError('BASE_PLATFORM_NOT_FOUND', `${ref.familiar()} has no image for ${formatPlatform(platform)} (it has: ${have.join(', ') || 'none'})`, {
        where,
        suggestions: ['choose a platform the base image offers with --platform or image.platform, or another base image'],
      });
    }
    m = await client.getManifest(source.repository, chosen.digest);
    parsed = parseManifestOrIndex(m.bytes, { where: `${from}@${chosen.digest}`, contentType: m.mediaType });
    if (parsed.kind !== 'manifest') throw dataError('IMAGE_BAD_MANIFEST', `${ref.toString()}: an index entry is itself an index`, { where });
  }
  const manifest = parsed.manifest;
  const stream = await client.getBlob(source.repository, manifest.config);
  const configBytes = await readLimited(stream, MAX_CONFIG_BYTES);
  const config = parseImageConfig(configBytes, { where: `${from} config` });
  const got = configPlatform(config);
  if (got.os !== platform.os || got.architecture !== platform.architecture) {
    throw dataError('BASE_PLATFORM_MISMATCH', `${ref.familiar()} is ${formatPlatform(got)}, not ${formatPlatform(platform)}`, {
      where,
      suggestions: [`build for ${formatPlatform(got)} with --platform, or use a ${formatPlatform(platform)} (or multi-platform) base image`],
    });
  }
  const via = source.registry === ref.registry && source.repository === ref.repository ? '' : ` (from ${from})`;
  req.reporter.info(`  base ${ref.familiar()} → ${m.digest}${via}`);
  return { ref, source, digest: m.digest, config, layers: manifest.layers };
}

export function warnUnusedBuildArgs(plan: BuildPlan, req: Pick<NativeBuildRequest, 'buildArgs' | 'reporter' | 'dockerfileDisplay'>): void {
  const declared = new Set<string>();
  for (const meta of plan.dockerfile.metaArgs) for (const a of meta.args) declared.add(a.key);
  for (const s of plan.required) for (const i of s.instructions) if (i.kind === 'ARG') for (const a of i.args) declared.add(a.key);
  const unused = Object.keys(req.buildArgs).filter((k) => !declared.has(k));
  if (unused.length > 0) req.reporter.warn(`build args not used by any ARG in ${req.dockerfileDisplay}: ${unused.join(', ')}`);
}

function emptyConfig(platform: Platform): ImageConfig {
  // BuildKit's config for scratch starts with WorkingDir "/".
  return { ...platformFields(platform), config: { WorkingDir: '/' }, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
}

function platformFields(p: Platform): Pick<ImageConfig, 'architecture' | 'os'> & { variant?: string } {
  return { architecture: p.architecture, os: p.os, ...(p.variant !== undefined ? { variant: p.variant } : {}) };
}

function stageLabel(s: ResolvedStage): string {
  return s.name ?? `stage ${s.index}`;
}
