/**
 * The OCI image model (descriptor, manifest, index, config) as plain TypeScript types, and parsers
 * that check the shape of JSON that came from outside (a registry, a layout on disk) before anything
 * trusts it. Docker schema 2 documents use the same shapes with other media types, so one set of
 * types covers both.
 *
 * Parsers are tolerant where real registries are sloppy (Docker writes `null` for empty fields;
 * configs carry extra keys like `container_config`) and strict where a mistake would be silent
 * later (digests, sizes, the shape of arrays). Unknown keys of a config are kept, so a config that
 * is read, changed and written again loses nothing.
 */
import type { DigestString } from './digest.js';
import { isIndexMediaType, isManifestMediaType, isSchema1MediaType, isValidMediaType, normalizeMediaType } from './media-types.js';
import { ShapeChecker, opt, setDefined, type JsonObject } from './shape.js';

/** The distribution spec lets registries refuse manifests over 4 MiB; ferry refuses to read more. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Configs have no spec limit; this bound keeps a hostile registry from exhausting memory. */
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';
export const ANNOTATION_BASE_DIGEST = 'org.opencontainers.image.base.digest';
export const ANNOTATION_BASE_NAME = 'org.opencontainers.image.base.name';

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: DigestString;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Base64 of the content, embedded; optional and rarely used. */
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Docker's HEALTHCHECK, kept in the config by Docker and buildah; durations in nanoseconds. */
export interface HealthConfig {
  /** ["NONE"], ["CMD", arg…] or ["CMD-SHELL", command]. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** `config` of an image config: what a container of this image runs with. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Docker extension (SHELL instruction). */
  Shell?: string[];
  /** Docker extension (HEALTHCHECK instruction). */
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  OnBuild?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface RootFs {
  type: 'layers';
  diff_ids: DigestString[];
}

export interface ImageConfig {
  /** RFC 3339 time. */
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFs;
  history?: HistoryEntry[];
}

export type ManifestOrIndex = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

interface ParseOptions {
  /** Where the document came from, for messages: "registry.example.com/team/app@sha256:…". */
  where?: string;
}

const manifestChecker = (o: ParseOptions): ShapeChecker => new ShapeChecker('IMAGE_BAD_MANIFEST', 'image manifest', o.where);
const configChecker = (o: ParseOptions): ShapeChecker => new ShapeChecker('IMAGE_BAD_CONFIG', 'image config', o.where);

// ---------------------------------------------------------------------------------------------
// Descriptors and platforms

export function validatePlatform(v: unknown, path: string, c: ShapeChecker): Platform {
  const o = c.object(v, path);
  const p: Platform = { architecture: c.string(o.architecture, `${path}.architecture`), os: c.string(o.os, `${path}.os`) };
  setDefined(p, 'os.version', c.optString(o['os.version'], `${path}["os.version"]`));
  setDefined(p, 'os.features', c.optStringArray(o['os.features'], `${path}["os.features"]`));
  setDefined(p, 'variant', c.optString(o.variant, `${path}.variant`));
  setDefined(p, 'features', c.optStringArray(o.features, `${path}.features`));
  return p;
}

function mediaType(v: unknown, path: string, c: ShapeChecker): string {
  const s = c.string(v, path);
  if (!isValidMediaType(s)) c.fail(path, `is not a valid media type: ${JSON.stringify(s.slice(0, 100))}`);
  return s;
}

export function validateDescriptor(v: unknown, path: string, c: ShapeChecker): Descriptor {
  const o = c.object(v, path);
  const d: Descriptor = {
    mediaType: mediaType(o.mediaType, `${path}.mediaType`, c),
    digest: c.digest(o.digest, `${path}.digest`),
    size: c.count(o.size, `${path}.size`),
  };
  setDefined(d, 'urls', c.optStringArray(o.urls, `${path}.urls`));
  setDefined(d, 'annotations', c.optStringMap(o.annotations, `${path}.annotations`));
  setDefined(d, 'data', c.optString(o.data, `${path}.data`));
  if (o.platform !== undefined && o.platform !== null) d.platform = validatePlatform(o.platform, `${path}.platform`, c);
  setDefined(d, 'artifactType', c.optString(o.artifactType, `${path}.artifactType`));
  return d;
}

// ---------------------------------------------------------------------------------------------
// Manifests and indexes

function checkSchemaVersion(o: JsonObject, c: ShapeChecker): void {
  if (o.schemaVersion === 1 || (typeof o.mediaType === 'string' && isSchema1MediaType(o.mediaType))) {
    c.fail('schemaVersion', 'is 1: Docker schema 1 manifests are deprecated and not supported; re-push the image with a current Docker, buildah or skopeo');
  }
  if (o.schemaVersion !== 2) c.fail('schemaVersion', 'must be 2');
}

export function validateImageManifest(v: unknown, opts: ParseOptions = {}): ImageManifest {
  const c = manifestChecker(opts);
  const o = c.object(v, '');
  checkSchemaVersion(o, c);
  const mt = o.mediaType === undefined ? undefined : mediaType(o.mediaType, 'mediaType', c);
  if (mt !== undefined && !isManifestMediaType(mt)) {
    c.fail('mediaType', isIndexMediaType(mt) ? 'says this is an image index, not an image manifest' : `is ${JSON.stringify(mt)}, not an image manifest media type`);
  }
  if (o.manifests !== undefined) c.fail('manifests', 'is present: an image manifest has layers, an index has manifests');
  const config = validateDescriptor(o.config, 'config', c);
  const layers = c.array(o.layers, 'layers').map((l, i) => validateDescriptor(l, `layers[${i}]`, c));
  const subject = o.subject === undefined || o.subject === null ? undefined : validateDescriptor(o.subject, 'subject', c);
  // Key order as in the spec, so a manifest written back reads naturally.
  return {
    schemaVersion: 2,
    ...opt('mediaType', mt),
    ...opt('artifactType', c.optString(o.artifactType, 'artifactType')),
    config,
    layers,
    ...opt('subject', subject),
    ...opt('annotations', c.optStringMap(o.annotations, 'annotations')),
  };
}

export function validateImageIndex(v: unknown, opts: ParseOptions = {}): ImageIndex {
  const c = manifestChecker(opts);
  const o = c.object(v, '');
  checkSchemaVersion(o, c);
  const mt = o.mediaType === undefined ? undefined : mediaType(o.mediaType, 'mediaType', c);
  if (mt !== undefined && !isIndexMediaType(mt)) {
    c.fail('mediaType', isManifestMediaType(mt) ? 'says this is an image manifest, not an image index' : `is ${JSON.stringify(mt)}, not an image index media type`);
  }
  const manifests = c.array(o.manifests, 'manifests').map((d, i) => validateDescriptor(d, `manifests[${i}]`, c));
  const subject = o.subject === undefined || o.subject === null ? undefined : validateDescriptor(o.subject, 'subject', c);
  return {
    schemaVersion: 2,
    ...opt('mediaType', mt),
    ...opt('artifactType', c.optString(o.artifactType, 'artifactType')),
    manifests,
    ...opt('subject', subject),
    ...opt('annotations', c.optStringMap(o.annotations, 'annotations')),
  };
}

export function parseImageManifest(bytes: Uint8Array | string, opts: ParseOptions = {}): ImageManifest {
  return validateImageManifest(manifestChecker(opts).decodeJson(bytes, MAX_MANIFEST_BYTES), opts);
}

export function parseImageIndex(bytes: Uint8Array | string, opts: ParseOptions = {}): ImageIndex {
  return validateImageIndex(manifestChecker(opts).decodeJson(bytes, MAX_MANIFEST_BYTES), opts);
}

/**
 * Parse what a registry returned for a manifest request, which may be an index or a manifest. The
 * document's own mediaType decides; then the response's Content-Type; then its shape (OCI lets both
 * omit mediaType).
 */
export function parseManifestOrIndex(bytes: Uint8Array | string, opts: ParseOptions & { contentType?: string } = {}): ManifestOrIndex {
  const c = manifestChecker(opts);
  const v = c.decodeJson(bytes, MAX_MANIFEST_BYTES);
  const o = c.object(v, '');
  const declared = typeof o.mediaType === 'string' ? o.mediaType : opts.contentType === undefined ? undefined : normalizeMediaType(opts.contentType);
  let isIndex: boolean;
  if (declared !== undefined && isIndexMediaType(declared)) isIndex = true;
  else if (declared !== undefined && isManifestMediaType(declared)) isIndex = false;
  else isIndex = Array.isArray(o.manifests) && o.layers === undefined;
  return isIndex ? { kind: 'index', index: validateImageIndex(o, opts) } : { kind: 'manifest', manifest: validateImageManifest(o, opts) };
}

// ---------------------------------------------------------------------------------------------
// Image config

function validateHealthcheck(v: unknown, path: string, c: ShapeChecker): HealthConfig {
  const o = c.object(v, path);
  const h: HealthConfig = {};
  setDefined(h, 'Test', c.optStringArray(o.Test, `${path}.Test`));
  setDefined(h, 'Interval', c.optCount(o.Interval, `${path}.Interval`));
  setDefined(h, 'Timeout', c.optCount(o.Timeout, `${path}.Timeout`));
  setDefined(h, 'StartPeriod', c.optCount(o.StartPeriod, `${path}.StartPeriod`));
  setDefined(h, 'StartInterval', c.optCount(o.StartInterval, `${path}.StartInterval`));
  setDefined(h, 'Retries', c.optCount(o.Retries, `${path}.Retries`));
  return h;
}

/** Copy `o`, dropping the keys whose value is null (Docker's way of writing "absent"). */
function withoutNulls(o: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(o)) if (x !== null) out[k] = x;
  return out;
}

function validateContainerConfig(v: unknown, path: string, c: ShapeChecker): ContainerConfig {
  const o = c.object(v, path);
  // Start from a copy so extra Docker keys (Hostname, Image, AttachStdin, …) survive a round trip.
  const cc = withoutNulls(o) as ContainerConfig;
  const p = (k: string): string => `${path}.${k}`;
  const set = <K extends keyof ContainerConfig>(k: K, val: ContainerConfig[K] | undefined): void => {
    if (val === undefined) Reflect.deleteProperty(cc, k);
    else cc[k] = val;
  };
  set('User', c.optString(o.User, p('User')));
  set('ExposedPorts', c.optSet(o.ExposedPorts, p('ExposedPorts')));
  set('Env', c.optStringArray(o.Env, p('Env')));
  set('Entrypoint', c.optStringArray(o.Entrypoint, p('Entrypoint')));
  set('Cmd', c.optStringArray(o.Cmd, p('Cmd')));
  set('Volumes', c.optSet(o.Volumes, p('Volumes')));
  set('WorkingDir', c.optString(o.WorkingDir, p('WorkingDir')));
  set('Labels', c.optStringMap(o.Labels, p('Labels')));
  set('StopSignal', c.optString(o.StopSignal, p('StopSignal')));
  set('Shell', c.optStringArray(o.Shell, p('Shell')));
  set('Healthcheck', o.Healthcheck === undefined || o.Healthcheck === null ? undefined : validateHealthcheck(o.Healthcheck, p('Healthcheck'), c));
  set('ArgsEscaped', c.optBoolean(o.ArgsEscaped, p('ArgsEscaped')));
  set('OnBuild', c.optStringArray(o.OnBuild, p('OnBuild')));
  return cc;
}

function validateHistory(v: unknown, path: string, c: ShapeChecker): HistoryEntry {
  const o = c.object(v, path);
  const h = withoutNulls(o) as HistoryEntry;
  const set = <K extends keyof HistoryEntry>(k: K, val: HistoryEntry[K] | undefined): void => {
    if (val === undefined) Reflect.deleteProperty(h, k);
    else h[k] = val;
  };
  set('created', c.optString(o.created, `${path}.created`));
  set('created_by', c.optString(o.created_by, `${path}.created_by`));
  set('author', c.optString(o.author, `${path}.author`));
  set('comment', c.optString(o.comment, `${path}.comment`));
  set('empty_layer', c.optBoolean(o.empty_layer, `${path}.empty_layer`));
  return h;
}

export function validateImageConfig(v: unknown, opts: ParseOptions = {}): ImageConfig {
  const c = configChecker(opts);
  const o = c.object(v, '');
  const cfg = withoutNulls(o) as unknown as ImageConfig;
  cfg.architecture = c.nonEmptyString(o.architecture, 'architecture');
  cfg.os = c.nonEmptyString(o.os, 'os');
  const rootfs = c.object(o.rootfs, 'rootfs');
  if (rootfs.type !== 'layers') c.fail('rootfs.type', 'must be "layers"');
  cfg.rootfs = { type: 'layers', diff_ids: c.array(rootfs.diff_ids ?? [], 'rootfs.diff_ids').map((d, i) => c.digest(d, `rootfs.diff_ids[${i}]`)) };
  const set = <K extends keyof ImageConfig>(k: K, val: ImageConfig[K] | undefined): void => {
    if (val === undefined) Reflect.deleteProperty(cfg, k);
    else cfg[k] = val;
  };
  set('created', c.optString(o.created, 'created'));
  set('author', c.optString(o.author, 'author'));
  set('os.version', c.optString(o['os.version'], '["os.version"]'));
  set('os.features', c.optStringArray(o['os.features'], '["os.features"]'));
  set('variant', c.optString(o.variant, 'variant'));
  set('config', o.config === undefined || o.config === null ? undefined : validateContainerConfig(o.config, 'config', c));
  set('history', o.history === undefined || o.history === null ? undefined : c.array(o.history, 'history').map((h, i) => validateHistory(h, `history[${i}]`, c)));
  return cfg;
}

export function parseImageConfig(bytes: Uint8Array | string, opts: ParseOptions = {}): ImageConfig {
  return validateImageConfig(configChecker(opts).decodeJson(bytes, MAX_CONFIG_BYTES), opts);
}

/** The platform an image config declares, in the shape index entries use. */
export function configPlatform(cfg: ImageConfig): Platform {
  const p: Platform = { architecture: cfg.architecture, os: cfg.os };
  setDefined(p, 'os.version', cfg['os.version']);
  setDefined(p, 'os.features', cfg['os.features']);
  setDefined(p, 'variant', cfg.variant);
  return p;
}
