/**
 * Choosing a builder and running it. Every builder ends in the same BuiltImage (an OCI manifest,
 * its config, and layers in ferry's blob store or in a registry), so what comes after (the layout
 * `ferry build` writes, `ferry push`, `ferry run`) does not depend on who built the image.
 *
 * `auto`: the native builder when the Dockerfile allows it (nothing to run), else the first engine
 * that is actually usable here, in the order docker, podman, buildah.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dataError, FerryError, unavailableError } from '../core/errors.js';
import { parseImageRef } from '../core/image-ref.js';
import { Digest } from '../image/digest.js';
import { encodeJson } from '../image/json-blob.js';
import { convertLayerMediaType, MediaType } from '../image/media-types.js';
import { formatPlatform } from '../image/platform.js';
import { configPlatform, type HistoryEntry, type ImageManifest } from '../image/types.js';
import { buildNative, resolveBase, warnUnusedBuildArgs, type BaseImage, type BuiltImage, type BuiltLayer, type NativeBuildRequest } from './native/builder.js';
import { externalImages, findNativeBlocker, parseDockerfile, platformArgs, resolveBuildPlan, type BuildPlan, type Dockerfile } from './native/dockerfile.js';
import { importLayers, readDirTransport, readDockerArchive, type EngineImageFiles } from './engine/import.js';
import { containersToolEngine } from './engine/containers-tools.js';
import { ANNOTATION_BASE_LAYERS, lookupLocalPrefix, lookupRegistryPrefix, placeholderRef, planHybrid, prefixKey, storeLocalPrefix, type HybridSplit, type PrefixImage } from './hybrid.js';
import { ENGINE_KINDS, type BuildSecret, type Engine, type EngineKind, type EngineOutput } from './engine/types.js';

export type BuilderKind = 'auto' | 'native' | EngineKind;
export const BUILDER_KINDS: readonly BuilderKind[] = ['auto', 'native', ...ENGINE_KINDS];

export interface BuildRequest extends NativeBuildRequest {
  builder: BuilderKind;
  /** Where `builder` came from, for messages: "--builder" or "ferry.yaml (image.builder)". */
  builderWhere: string;
  labels: Record<string, string>;
  secrets: BuildSecret[];
  ssh: string[];
  insecureRegistries: string[];
  /** registries.HOST.endpoint from ferry.yaml: host → URL (engines are told, see EngineBuildRequest). */
  registryEndpoints?: Readonly<Record<string, string>> | undefined;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  /** The engines to consider, by kind (tests give their own; default: the real ones). */
  engines?: Partial<Record<EngineKind, Engine>>;
  /** image.name: where a hybrid build looks for (and `ferry push` tags) its prefix. */
  prefixRepo?: { registry: string; repository: string } | undefined;
  /** Absolute paths left out of the context (ferry's own output). */
  excludeFromContext?: string[];
}

export interface HybridInfo {
  /** The prefix's content hash; the registry tag is ferry-prefix-<key>. */
  key: string;
  /** Where the prefix came from: ferry's cache, the registry, or the engine that built it now. */
  source: 'cache' | 'registry' | EngineKind;
  /** The Dockerfile line the prefix ends on. */
  line: number;
  /** Its manifest and config, for `ferry push` to tag it (absent when it came from the registry). */
  image?: { manifestBytes: Buffer; configBytes: Buffer; layerCount: number };
}

export interface BuildOutcome extends BuiltImage {
  builder: 'native' | 'hybrid' | EngineKind;
  hybrid?: HybridInfo;
}

export function defaultEngines(): Record<EngineKind, Engine> {
  return {
    docker: lazyDockerEngine(),
    podman: containersToolEngine('podman'),
    buildah: containersToolEngine('buildah'),
  };
}

export async function buildImage(req: BuildRequest): Promise<BuildOutcome> {
  const text = await readFile(req.dockerfile, 'utf8').catch((e: unknown) => {
    throw dataError('DOCKERFILE_NOT_FOUND', `cannot read ${req.dockerfileDisplay}`, {
      where: req.dockerfileDisplay,
      cause: e,
      suggestions: ['check image.dockerfile in ferry.yaml (it is relative to the context)'],
    });
  });
  const df = parseDockerfile(text, { file: req.dockerfileDisplay, heredocs: 'allow' });
  const targetPlatform = formatPlatform(req.platform);
  // Checks the target stage and FROM lines before any engine starts.
  const plan = resolveBuildPlan(df, {
    ...(req.target !== undefined ? { target: req.target } : {}),
    buildArgs: req.buildArgs,
    builtinArgs: platformArgs({ buildPlatform: targetPlatform, targetPlatform }),
  });
  if (req.builder === 'native' || (req.builder === 'auto' && findNativeBlocker(plan) === undefined)) {
    if (req.secrets.length > 0 || req.ssh.length > 0) {
      req.reporter.warn('--secret and --ssh are only for RUN steps; this build has none, so they are not used');
    }
    return { ...(await buildNative({ ...req, labels: req.labels })), builder: 'native' };
  }
  const engines = { ...defaultEngines(), ...req.engines };
  await sweepStaleWorkDirs(req.cache.dir);
  if (req.builder === 'auto') {
    const split = planHybrid(plan, text);
    if (split !== undefined) {
      warnUnusedBuildArgs(plan, req);
      const hybrid = await buildHybrid(split, plan, engines, req);
      if (hybrid !== undefined) return hybrid;
    }
  }
  const engine = req.builder === 'auto' ? await firstUsable(engines, req, plan) : await explicitEngine(engines[req.builder], req);
  return buildWithEngine(engine, df, plan, req);
}

/**
 * The prefix from ferry's cache, the registry, or an engine; then the suffix natively on top.
 * With a prefix found, no engine is even looked for.
 */
async function buildHybrid(split: HybridSplit, plan: BuildPlan, engines: Record<EngineKind, Engine>, req: BuildRequest): Promise<BuildOutcome | undefined> {
  const file = plan.dockerfile.file;
  let key: string;
  try {
    key = await prefixKey({
      split,
      plan,
      contextDir: req.contextDir,
      excludeFromContext: req.excludeFromContext ?? [],
      platform: req.platform,
      buildArgs: req.buildArgs,
      secretIds: req.secrets.map((s) => s.id),
      cache: req.cache,
      registries: req.registries,
      mirrors: req.mirrors,
      reporter: req.reporter,
    });
  } catch (e) {
    // A base image only the engine has, or a registry out of reach: the engine builds it all.
    req.reporter.info(`no hybrid build: the prefix's inputs cannot all be hashed (${e instanceof FerryError ? e.code : String(e)}); the engine builds the whole Dockerfile`);
    return undefined;
  }
  req.reporter.info(`hybrid build: ${file} up to line ${split.last.endLine} is the prefix ${key.slice(0, 12)}; the rest is applied natively`);
  let prefix: PrefixImage | undefined;
  let source: HybridInfo['source'] = 'cache';
  if (!req.noCache) prefix = await lookupLocalPrefix(req.cache, key);
  if (prefix === undefined && !req.noCache && req.prefixRepo !== undefined) {
    const base = await lookupRegistryPrefix(key, req.prefixRepo, req.platform, req.registries, req.reporter);
    if (base !== undefined) {
      prefix = { base, manifestBytes: Buffer.alloc(0), configBytes: Buffer.alloc(0) };
      source = 'registry';
    }
  }
  if (prefix === undefined) {
    const engine = await firstUsable(engines, req, plan);
    const workDir = await mkdtemp(path.join(req.cache.dir, `prefix-${process.pid}-`));
    try {
      const prefixFile = path.join(workDir, 'Dockerfile.prefix');
      await writeFile(prefixFile, split.prefixText);
      const prefixDf = parseDockerfile(split.prefixText, { file, heredocs: 'allow' });
      const prefixPlan = resolveBuildPlan(prefixDf, {
        ...(req.target !== undefined ? { target: req.target } : {}),
        buildArgs: req.buildArgs,
        builtinArgs: platformArgs({ buildPlatform: formatPlatform(req.platform), targetPlatform: formatPlatform(req.platform) }),
      });
      // Labels are the final image's: applied natively at the end, they stay out of the prefix.
      const built = await buildWithEngine(engine, prefixDf, prefixPlan, { ...req, dockerfile: prefixFile, labels: {} });
      prefix = await storeLocalPrefix(req.cache, key, annotate(built, ANNOTATION_BASE_LAYERS, String(built.layers.filter((l) => !l.built).length)));
      source = engine.kind;
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  } else {
    req.reporter.info(`  prefix ${key.slice(0, 12)} found in ${source === 'registry' ? `${req.prefixRepo?.registry ?? ''}/${req.prefixRepo?.repository ?? ''}` : "ferry's cache"}: no engine needed`);
  }
  const workDir = await mkdtemp(path.join(req.cache.dir, `suffix-${process.pid}-`));
  try {
    const placeholder = placeholderRef(key);
    const suffixFile = path.join(workDir, 'Dockerfile.suffix');
    await writeFile(suffixFile, split.suffixText(placeholder));
    const built = await buildNative({
      ...req,
      dockerfile: suffixFile,
      target: undefined,
      baseOverrides: new Map([[placeholder, { ...prefix.base, cmdSetInStage: split.cmdInPrefix }]]),
      warnUnusedArgs: false,
    });
    return {
      ...built,
      builder: 'hybrid',
      hybrid: {
        key,
        source,
        line: split.last.line,
        ...(source !== 'registry' ? { image: { manifestBytes: prefix.manifestBytes, configBytes: prefix.configBytes, layerCount: prefix.base.layers.length } } : {}),
      },
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function explicitEngine(engine: Engine, req: BuildRequest): Promise<Engine> {
  const ok = await engine.available(req.env);
  if (ok === true) return engine;
  throw unavailableError('ENGINE_UNAVAILABLE', `the ${engine.kind} builder cannot be used: ${ok}`, {
    where: req.builderWhere,
    details: { engine: engine.kind },
    suggestions: engineHelp(engine.kind),
  });
}

async function firstUsable(engines: Record<EngineKind, Engine>, req: BuildRequest, plan: BuildPlan): Promise<Engine> {
  const tried: string[] = [];
  for (const kind of ENGINE_KINDS) {
    if (kind === 'docker' && (req.secrets.length > 0 || req.ssh.length > 0)) {
      // The Engine API's build has no BuildKit session: it cannot take secrets or SSH.
      tried.push('docker: skipped, it takes no --secret or --ssh');
      continue;
    }
    const ok = await engines[kind].available(req.env);
    if (ok === true) return engines[kind];
    tried.push(`${kind}: ${ok}`);
    req.reporter.debug(`builder ${kind} not usable: ${ok}`);
  }
  const blocker = findNativeBlocker(plan);
  const why = blocker === undefined ? '' : ` (${blocker.instruction.kind} at ${plan.dockerfile.file}:${blocker.instruction.line})`;
  throw unavailableError('ENGINE_NOT_FOUND', `this Dockerfile needs a container engine${why}, and none is usable here:\n${tried.map((t) => `    ${t}`).join('\n')}`, {
    ...(blocker !== undefined ? { where: `${plan.dockerfile.file}:${blocker.instruction.line}` } : {}),
    details: { tried: ENGINE_KINDS },
    suggestions: [
      'install podman or buildah (Debian/Ubuntu: apt-get install podman), or start Docker and check DOCKER_HOST',
      'or build natively: keep RUN steps out of the Dockerfile (see `ferry config validate`)',
    ],
  });
}

function engineHelp(kind: EngineKind): string[] {
  switch (kind) {
    case 'docker':
      return ['start the Docker Engine, or set DOCKER_HOST to a reachable one (unix:///path/to/docker.sock)', 'or choose another builder: --builder podman|buildah|auto'];
    case 'podman':
      return ['install podman (Debian/Ubuntu: apt-get install podman) and check that `podman info` works', 'or choose another builder: --builder buildah|docker|auto'];
    case 'buildah':
      return ['install buildah (Debian/Ubuntu: apt-get install buildah) and check that `buildah info` works', 'or choose another builder: --builder podman|docker|auto'];
  }
}

async function buildWithEngine(engine: Engine, df: Dockerfile, plan: BuildPlan, req: BuildRequest): Promise<BuildOutcome> {
  const workDir = await mkdtemp(path.join(req.cache.dir, `engine-${process.pid}-`));
  try {
    // Before the engine starts: the credentials ferry has for the registries it will pull from
    // (an ECR token that cannot be had fails the build here, with its ECR_* code).
    const { pullHosts, registryAuth } = await engineRegistryAccess(plan, req);
    // The base is resolved first (and in parallel with nothing: it is a few small requests) so
    // that layers the registry already has are neither compressed nor uploaded again.
    const base = await engineBase(plan, req);
    const out = await engine.build({
      dockerfile: req.dockerfile,
      dockerfileDisplay: req.dockerfileDisplay,
      parsed: df,
      contextDir: req.contextDir,
      platform: req.platform,
      buildArgs: req.buildArgs,
      target: req.target,
      noCache: req.noCache,
      labels: req.labels,
      secrets: req.secrets,
      ssh: req.ssh,
      mirrors: req.mirrors,
      insecureRegistries: req.insecureRegistries,
      endpoints: req.registryEndpoints,
      pullHosts,
      registryAuth,
      reporter: req.reporter,
      env: req.env,
      workDir,
      signal: req.signal,
      exclude: req.excludeFromContext ?? [],
    });
    const files = await readEngineOutput(out, engine.kind);
    return { ...(await assemble(files, base, req)), builder: engine.kind };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The registries the build's stages pull from (FROM, COPY --from and RUN --mount from= images),
 * and for each one ferry has credentials of its own for (ECR: GetAuthorizationToken, as a push
 * gets them), those credentials. Hosts of other registries are left to the engine's own files.
 */
async function engineRegistryAccess(
  plan: BuildPlan,
  req: BuildRequest,
): Promise<{ pullHosts: string[]; registryAuth: Record<string, { username: string; password: string }> }> {
  const hosts = new Set<string>();
  for (const img of externalImages(plan)) {
    // An unexpanded variable (RUN --mount from=$X) names no host ferry can know.
    if (img.ref.includes('$')) continue;
    try {
      hosts.add(parseImageRef(img.ref).registry);
    } catch {
      // Not a valid reference: the engine says so in its own words.
    }
  }
  const registryAuth: Record<string, { username: string; password: string }> = {};
  for (const host of hosts) {
    const c = await req.registries.engineCredential?.(host);
    if (c === undefined) continue;
    registryAuth[host] = { username: c.username, password: c.password };
    req.reporter.debug(`engine credentials for ${host}: ${c.source}`);
  }
  return { pullHosts: [...hosts], registryAuth };
}

async function readEngineOutput(out: EngineOutput, kind: EngineKind): Promise<EngineImageFiles> {
  return out.format === 'dir-transport' ? readDirTransport(out.dir, kind) : readDockerArchive(out.dir, kind);
}

/**
 * The registry image the target stage starts from, following stage-on-stage chains. When it cannot
 * be resolved (an image only the engine has locally, no network), the build goes on without it:
 * every layer is then taken from the engine.
 */
async function engineBase(plan: BuildPlan, req: BuildRequest): Promise<BaseImage | undefined> {
  let stage = plan.target;
  for (;;) {
    if (stage.base.kind === 'scratch') return undefined;
    if (stage.base.kind === 'image') break;
    const next = plan.stages[stage.base.index];
    if (next === undefined) return undefined;
    stage = next;
  }
  try {
    return await resolveBase(stage.base.ref, req.platform, `${plan.dockerfile.file}:${stage.from.line}`, req);
  } catch (e) {
    req.reporter.debug(`base ${stage.base.ref} not resolved in a registry (${e instanceof FerryError ? e.code : String(e)}); all layers come from the engine`);
    return undefined;
  }
}

/** ferry's OCI manifest over the engine's config: base layers by reference, the rest compressed by ferry. */
async function assemble(files: EngineImageFiles, base: BaseImage | undefined, req: BuildRequest): Promise<BuiltImage> {
  const baseIds = base?.config.rootfs.diff_ids ?? [];
  let shared = 0;
  while (shared < baseIds.length && shared < files.layers.length && baseIds[shared] === files.layers[shared]?.diffId) shared++;
  const imported = await importLayers(files, req.cache, req.reporter, new Set(files.layers.slice(0, shared).map((l) => l.diffId)));
  const history = (files.config.history ?? []).filter((h: HistoryEntry) => h.empty_layer !== true);
  const layers: BuiltLayer[] = files.layers.map((l, i) => {
    const createdBy = (history[i]?.created_by ?? '').replace(/^\/bin\/sh -c #\(nop\) /, '').trim();
    if (i < shared && base !== undefined) {
      const d = base.layers[i];
      if (d === undefined) throw new FerryError('INTERNAL', 'base layer list shorter than its diff_ids');
      return {
        descriptor: { mediaType: convertLayerMediaType(d.mediaType, 'oci'), digest: d.digest, size: d.size },
        diffId: l.diffId,
        origin: { kind: 'registry', registry: base.source.registry, repository: base.source.repository },
        built: false,
        reused: false,
        createdBy: `base ${base.ref.familiar()}`,
      };
    }
    const imp = imported[i];
    if (imp === undefined) throw new FerryError('INTERNAL', `layer ${i} was not imported`);
    return {
      descriptor: { mediaType: imp.mediaType, digest: imp.digest, size: imp.size },
      diffId: imp.diffId,
      origin: { kind: 'local' },
      built: true,
      reused: imp.reused,
      createdBy,
    };
  });
  await req.cache.save();
  const configBytes = files.configBytes;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: Digest.of(configBytes).toString(), size: configBytes.byteLength },
    layers: layers.map((l) => l.descriptor),
  };
  const baseRef = base === undefined || shared === 0 ? null : { name: base.ref.familiar(), digest: base.digest };
  if (baseRef !== null) {
    manifest.annotations = { 'org.opencontainers.image.base.name': baseRef.name, 'org.opencontainers.image.base.digest': baseRef.digest };
  }
  const manifestBytes = encodeJson(manifest);
  return {
    manifest,
    manifestBytes,
    digest: Digest.of(manifestBytes).toString(),
    config: files.config,
    configBytes,
    layers,
    platform: configPlatform(files.config),
    base: baseRef,
    warnings: [],
  };
}

/**
 * Work directories of builds that were killed (Ctrl-C during an engine build ends the process
 * before its cleanup): they hold whole uncompressed exports. Each is named after its process; one
 * whose process is gone is removed.
 */
async function sweepStaleWorkDirs(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^(?:engine|prefix|suffix)-(\d+)-/.exec(name);
    if (m === null || Number(m[1]) === process.pid) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The image with one more manifest annotation (a new manifest digest; config and layers unchanged). */
function annotate(image: BuiltImage, key: string, value: string): BuiltImage {
  const manifest: ImageManifest = { ...image.manifest, annotations: { ...(image.manifest.annotations ?? {}), [key]: value } };
  const manifestBytes = encodeJson(manifest);
  return { ...image, manifest, manifestBytes, digest: Digest.of(manifestBytes).toString() };
}

/** The docker builder loads the Docker Engine API client only when it is considered. */
function lazyDockerEngine(): Engine {
  let loaded: Promise<Engine> | undefined;
  const get = (): Promise<Engine> => (loaded ??= import('./engine/docker.js').then((m) => m.dockerEngine()));
  return {
    kind: 'docker',
    available: async (env) => (await get()).available(env),
    build: async (req) => (await get()).build(req),
  };
}
