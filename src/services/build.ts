import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../core/context.js';
import { configError, FerryError, usageError } from '../core/errors.js';
import { isValidTag, parseImageRef, type ImageRef } from '../core/image-ref.js';
import type { BuiltImage } from '../builders/native/builder.js';
import { buildImage, type BuilderKind, type BuildOutcome } from '../builders/index.js';
import type { BuildSecret } from '../builders/engine/types.js';
import { formatBytes, shortDigest } from '../ui/format.js';
import { LayerCache, resolveCacheDir } from '../image/layer-cache.js';
import { OciLayout } from '../image/oci-layout.js';
import { shellInConfig } from '../image/shell-probe.js';
import { formatPlatform, parsePlatform } from '../image/platform.js';
import { forEachLimited } from '../registry/push.js';
import { registerSecret } from '../infra/redact.js';
import { loadAndCheckConfig } from './config.js';
import { SharedRegistryPool } from './registries.js';
import type { LoadedConfig } from '../config/loader.js';

export interface BuildOptions {
  configPath?: string | undefined;
  platform?: string | undefined;
  buildArgs?: Record<string, string>;
  target?: string | undefined;
  noCache?: boolean;
  insecureRegistries?: string[] | undefined;
  username?: string | undefined;
  passwordStdin?: boolean;
  /** Overrides image.name (push --image, FERRY_IMAGE). */
  imageName?: string | undefined;
  tags?: string[];
  concurrency?: number;
  /** Where build writes its layout: kept out of the context (resolved by buildService). */
  outputDir?: string;
  /** --builder (FERRY_BUILDER); else image.builder. */
  builder?: BuilderKind | undefined;
  labels?: Record<string, string>;
  secrets?: BuildSecret[];
  ssh?: string[];
}

export interface LayerReport {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
  /** "base" for base-image layers, "build" for layers this Dockerfile adds. */
  source: 'base' | 'build';
  /** Not tarred or compressed by this build: a base layer, or a COPY layer found in the cache. */
  reused: boolean;
  createdBy: string;
}

export interface BuildResult {
  digest: string;
  /** Who built it: native, docker, podman, buildah, or hybrid (an engine-built prefix, the rest native). */
  builder: string;
  /** For a hybrid build: the prefix's hash, the line it ends on, and where it came from (cache, registry, or the engine that built it). */
  prefix?: { key: string; line: number; source: string };
  /** The pinned reference this image will have when pushed (null when image.name is not set). */
  image: string | null;
  layout: string;
  platform: string;
  config: string;
  size: number;
  layers: LayerReport[];
  base: { name: string; digest: string } | null;
  /** The image's ENTRYPOINT, when it has one (targets such as AWS Batch cannot replace it). */
  entrypoint?: string[];
  /** The image's CMD, when it has one (`deploy --each` on Batch wraps it). */
  cmd?: string[];
  /** Why the image config says the image has /bin/sh (image/shell-probe.ts), when it does. */
  shellHint?: string;
  /** The manifest's media type: always one image manifest (Lambda, among others, refuses an index). */
  manifestMediaType?: string;
}

/** Everything a build needs, set up once for build and push. */
export interface PreparedBuild {
  loaded: LoadedConfig;
  name: ImageRef | undefined;
  pool: SharedRegistryPool;
  cache: LayerCache;
  built: BuildOutcome;
}

export async function prepareAndBuild(opts: BuildOptions, ctx: RunContext): Promise<PreparedBuild> {
  if (opts.passwordStdin === true && (opts.username === undefined || opts.username === '')) {
    throw usageError('USAGE_PASSWORD_WITHOUT_USERNAME', '--password-stdin needs --username', {
      where: '--password-stdin',
      suggestions: ['pass --username NAME with --password-stdin'],
    });
  }
  checkFlagValues(opts);
  const loaded = await loadAndCheckConfig(
    {
      configPath: opts.configPath,
      overrides: {
        imageName: opts.imageName,
        platform: opts.platform,
        buildArgs: opts.buildArgs,
        tags: opts.tags,
        insecureRegistries: opts.insecureRegistries,
      },
    },
    ctx,
  );
  const img = loaded.config.image;
  // loadAndCheckConfig has checked the name: a repository, no tag or digest.
  const name = img.name === undefined ? undefined : parseImageRef(img.name);
  const platform = parsePlatform(img.platform, {
    where: opts.platform !== undefined ? '--platform' : `${loaded.file} (image.platform)`,
    kind: opts.platform !== undefined ? 'usage' : 'config',
  });
  const password = opts.passwordStdin === true ? await readStdin() : undefined;
  const explicit =
    opts.username !== undefined && password !== undefined && name !== undefined
      ? { registry: name.registry, username: opts.username, password }
      : undefined;
  const pool = new SharedRegistryPool({
    registries: loaded.config.registries,
    explicit,
    reporter: ctx.reporter,
    env: ctx.env,
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
  });
  const secrets = await checkSecrets(opts.secrets ?? [], ctx);
  const ssh = await checkSsh(opts.ssh ?? [], ctx);
  const cache = await LayerCache.open(resolveCacheDir(ctx.env, ctx.cwd));
  try {
    const builder = opts.builder ?? img.builder;
    const built = await buildImage({
      builder,
      builderWhere: opts.builder !== undefined ? '--builder' : `${loaded.file} (image.builder)`,
      labels: { ...img.labels, ...opts.labels },
      secrets,
      ssh,
      insecureRegistries: insecureHosts(loaded.config.registries),
      registryEndpoints: registryEndpoints(loaded.config.registries),
      env: ctx.env,
      signal: ctx.signal,
      prefixRepo: name === undefined ? undefined : { registry: name.registry, repository: name.repository },
      dockerfile: loaded.dockerfile,
      dockerfileDisplay: displayPath(loaded.dockerfile, ctx.cwd),
      contextDir: loaded.contextDir,
      platform,
      buildArgs: img.buildArgs,
      target: opts.target,
      noCache: opts.noCache ?? false,
      epoch: sourceDateEpoch(ctx.env),
      cache,
      registries: pool,
      reporter: ctx.reporter,
      excludeFromContext: [path.join(loaded.dir, '.ferry'), ...(opts.outputDir !== undefined ? [opts.outputDir] : [])],
      mirrors: loaded.config.registries.mirrors,
    });
    return { loaded, name, pool, cache, built };
  } catch (e) {
    await pool.close();
    throw e;
  }
}

export async function buildService(opts: BuildOptions & { output?: string | undefined }, ctx: RunContext): Promise<BuildResult> {
  const explicitOut = opts.output === undefined ? undefined : outputDir(opts.output, ctx.cwd);
  const prepared = await prepareAndBuild({ ...opts, ...(explicitOut !== undefined ? { outputDir: explicitOut } : {}) }, ctx);
  const { loaded, built, cache, pool } = prepared;
  try {
    const isDefault = explicitOut === undefined;
    const dir = explicitOut ?? path.join(loaded.dir, '.ferry', 'oci');
    // A complete layout: base layers are fetched once into the cache (verified while streaming),
    // then hard-linked into the layout, so skopeo or podman can read it without a registry.
    const missing = [];
    for (const l of built.layers) if (l.origin.kind === 'registry' && !(await cache.blobs.has(l.descriptor.digest, l.descriptor.size))) missing.push(l);
    if (missing.length > 0) ctx.reporter.info(`fetching ${missing.length} base layer(s) into the cache`);
    await forEachLimited(missing, 4, async (l) => {
      if (l.origin.kind !== 'registry') return;
      const stream = await pool.client(l.origin.registry).getBlob(l.origin.repository, l.descriptor);
      await cache.blobs.writeFrom(stream, { expectedDigest: l.descriptor.digest, expectedSize: l.descriptor.size, what: `base layer ${shortDigest(l.descriptor.digest)}` });
    });
    const layout = await OciLayout.create(dir);
    if (isDefault) await layout.writeIndex({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    await layout.writeImage({
      manifest: built.manifestBytes,
      config: built.configBytes,
      source: cache.blobs,
      tags: loaded.config.image.tags,
      platform: built.platform,
    });
    ctx.reporter.info(`wrote ${displayPath(dir, ctx.cwd)}: ${built.digest} (${formatPlatform(built.platform)}, ${formatBytes(totalSize(built))})`);
    return buildResult(prepared, dir);
  } finally {
    await pool.close();
  }
}

export function buildResult(p: PreparedBuild, layout: string): BuildResult {
  const { built, name } = p;
  return {
    digest: built.digest,
    builder: built.builder,
    ...(built.hybrid !== undefined ? { prefix: { key: built.hybrid.key, line: built.hybrid.line, source: built.hybrid.source } } : {}),
    image: name === undefined ? null : `${name.toString()}@${built.digest}`,
    layout,
    platform: formatPlatform(built.platform),
    config: built.manifest.config.digest,
    size: totalSize(built),
    layers: built.layers.map((l) => ({
      digest: l.descriptor.digest,
      diffId: l.diffId,
      size: l.descriptor.size,
      mediaType: l.descriptor.mediaType,
      source: l.built ? 'build' : 'base',
      reused: l.built ? l.reused : true,
      createdBy: l.createdBy,
    })),
    base: built.base,
    ...entrypointOf(built.configBytes),
    manifestMediaType: built.manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
  };
}

function entrypointOf(configBytes: Buffer): { entrypoint?: string[]; cmd?: string[]; shellHint?: string } {
  try {
    const parsed = JSON.parse(configBytes.toString('utf8')) as { config?: { Entrypoint?: unknown; Cmd?: unknown } | null };
    const words = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
    const ep = parsed.config?.Entrypoint;
    const cmd = parsed.config?.Cmd;
    const shellHint = shellInConfig(configBytes);
    return { ...(words(ep) ? { entrypoint: ep } : {}), ...(words(cmd) ? { cmd } : {}), ...(shellHint !== undefined ? { shellHint } : {}) };
  } catch {
    return {};
  }
}

function totalSize(b: BuiltImage): number {
  return b.layers.reduce((n, l) => n + l.descriptor.size, b.configBytes.byteLength + b.manifestBytes.byteLength);
}

/** Flag values are usage errors (64) naming the flag, checked before ferry.yaml's own values. */
function checkFlagValues(opts: BuildOptions): void {
  const asUsage = (e: unknown, where: string): unknown =>
    e instanceof FerryError ? usageError(e.code, e.message, { where, suggestions: e.suggestions, cause: e }) : e;
  if (opts.platform !== undefined) parsePlatform(opts.platform, { where: '--platform', kind: 'usage' });
  for (const tag of opts.tags ?? []) {
    if (!isValidTag(tag)) {
      throw usageError('IMAGE_REF_INVALID', `--tag ${tag} is not a valid tag (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)`, {
        where: '--tag',
        suggestions: ['fix the --tag value'],
      });
    }
  }
  if (opts.imageName !== undefined) {
    try {
      parseImageRef(opts.imageName, '--image');
    } catch (e) {
      throw asUsage(e, '--image');
    }
  }
}

/** `--output oci:DIR` as an absolute directory. */
function outputDir(output: string, cwd: string): string {
  const m = /^oci:(.+)$/.exec(output);
  if (m?.[1] === undefined) {
    throw usageError('USAGE_BAD_OUTPUT', `--output ${output} is not oci:DIR`, {
      where: '--output',
      suggestions: ['write --output oci:DIR (an OCI image layout directory)'],
    });
  }
  return path.resolve(cwd, m[1]);
}

/** SOURCE_DATE_EPOCH (reproducible-builds.org) sets every file time; else the Unix epoch. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number {
  const v = env['SOURCE_DATE_EPOCH'];
  if (v === undefined || v === '') return 0;
  if (!/^\d{1,11}$/.test(v)) {
    throw configError('SOURCE_DATE_EPOCH_INVALID', `SOURCE_DATE_EPOCH=${v} is not a number of seconds`, {
      where: 'SOURCE_DATE_EPOCH',
      suggestions: ['set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)', 'or unset it'],
    });
  }
  return Number(v);
}

/** Hosts ferry.yaml (or --insecure-registry) marks insecure: engines must know them too. */
function insecureHosts(registries: LoadedConfig['config']['registries']): string[] {
  const out: string[] = [];
  for (const [host, v] of Object.entries(registries)) {
    if (host === 'mirrors' || Array.isArray(v) || typeof v !== 'object') continue;
    if ((v as { insecure?: unknown }).insecure === true) out.push(host);
  }
  return out;
}

/** registries.HOST.endpoint, host → URL. */
function registryEndpoints(registries: LoadedConfig['config']['registries']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [host, v] of Object.entries(registries)) {
    if (host === 'mirrors' || Array.isArray(v) || typeof v !== 'object') continue;
    const endpoint = (v as { endpoint?: unknown }).endpoint;
    if (typeof endpoint === 'string') out[host] = endpoint;
  }
  return out;
}

/** `--ssh default` needs an agent (SSH_AUTH_SOCK); `--ssh ID=PATH,…` needs the paths to exist. */
async function checkSsh(items: string[], ctx: RunContext): Promise<string[]> {
  const out: string[] = [];
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 0) {
      if (ctx.env['SSH_AUTH_SOCK'] === undefined || ctx.env['SSH_AUTH_SOCK'] === '') {
        throw usageError('USAGE_BAD_SSH', `--ssh ${item} forwards the SSH agent, but SSH_AUTH_SOCK is not set`, {
          where: '--ssh',
          suggestions: ['start an agent and add your key (eval "$(ssh-agent)"; ssh-add), or give the key: --ssh default=~/.ssh/id_ed25519'],
        });
      }
      out.push(item);
      continue;
    }
    const paths = item.slice(eq + 1).split(',').map((p) => path.resolve(ctx.cwd, p));
    for (const p of paths) {
      try {
        await access(p);
      } catch (e) {
        throw usageError('USAGE_BAD_SSH', `--ssh ${item}: ${p} does not exist`, {
          where: '--ssh',
          cause: e,
          suggestions: ['give an agent socket or a private key file that exists'],
        });
      }
    }
    out.push(`${item.slice(0, eq)}=${paths.join(',')}`);
  }
  return out;
}

/** Secret files must be readable and env secrets set; their values are redacted from all output. */
async function checkSecrets(secrets: BuildSecret[], ctx: RunContext): Promise<BuildSecret[]> {
  const out: BuildSecret[] = [];
  for (const s of secrets) {
    if (s.src !== undefined) {
      const src = path.resolve(ctx.cwd, s.src);
      let value: Buffer;
      try {
        value = await readFile(src);
      } catch (e) {
        throw usageError('USAGE_BAD_SECRET', `--secret id=${s.id}: cannot read ${s.src}`, {
          where: '--secret',
          cause: e,
          suggestions: ['check the src= path of the secret (relative paths are from the current directory)'],
        });
      }
      // Registered whole and line by line: a step that prints a multi-line secret (a key, a
      // .netrc) is redacted line by line, as ferry's output is written.
      if (value.byteLength <= 1024 * 1024) {
        const text = value.toString('utf8');
        registerSecret(text.trim());
        for (const line of text.split(/\r?\n/)) if (line.trim().length >= 8) registerSecret(line.trim());
      }
      out.push({ id: s.id, src });
    } else {
      const v = ctx.env[s.env ?? s.id];
      if (v === undefined) {
        throw usageError('USAGE_BAD_SECRET', `--secret id=${s.id}: the environment variable ${s.env ?? s.id} is not set`, {
          where: '--secret',
          suggestions: [`export ${s.env ?? s.id} before building, or give the secret as a file with src=PATH`],
        });
      }
      registerSecret(v);
      out.push(s);
    }
  }
  return out;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  registerSecret(password);
  if (password === '') {
    throw usageError('USAGE_EMPTY_PASSWORD', '--password-stdin read an empty password', {
      where: '--password-stdin',
      suggestions: ['pipe the password or token in: echo "$TOKEN" | ferry push --username USER --password-stdin'],
    });
  }
  return password;
}

function displayPath(p: string, cwd: string): string {
  const rel = path.relative(cwd, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}
