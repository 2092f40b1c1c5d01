/**
 * A client for one registry, speaking the OCI distribution spec (which Docker Hub, GHCR, Artifact
 * Registry, ECR and the CNCF distribution server all implement). Every failure becomes a FerryError
 * with a code; every byte read is verified against the digest it was asked for.
 */
import { PassThrough, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { dataError, ExitCode, FerryError, tempError, unavailableError } from '../core/errors.js';
import { assertDigest, registryApiHost } from '../core/image-ref.js';
import { classifyNetworkError, HttpClient, type BodyFactory, type HttpEvent, type HttpMethod, type HttpResponse, type RetryPolicy } from '../infra/http.js';
import { redact } from '../infra/redact.js';
import { MANIFEST_ACCEPT, normalizeMediaType } from '../image/media-types.js';
import { RegistryAuth, repositoryScope } from './auth.js';
import { resolveCredentials, type Credential, type CredentialOptions, type ResolvedCredential } from './credentials.js';
import { digestAlgorithm, digestOf, DigestingStream, mismatchError } from './verify.js';

/** Manifests are small; a registry answering megabytes is broken or hostile. */
export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;

const REPO_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$/;

/** The part of a descriptor the client needs. */
export interface BlobRef {
  digest: string;
  size: number;
  mediaType?: string;
}

/** Opens the blob's bytes from the start; called again when an upload has to start over. */
export type BlobSource = () => Readable | Promise<Readable>;

export interface BlobProgress {
  /** Bytes of this blob sent so far (in the current attempt). */
  bytes: number;
}

export interface RegistryClientOptions {
  /** Plain HTTP (no TLS). Only for registries the user marked insecure. */
  insecure?: boolean;
  /** Credentials to use, or a resolved chain result; default: the credential chain. */
  credentials?: Credential | ResolvedCredential;
  /** Options of the credential chain (env, explicit flags). */
  credentialOptions?: CredentialOptions;
  /** Parallel blob transfers (used by push). */
  concurrency?: number;
  /** Blobs larger than this are uploaded in chunks of this size. */
  chunkSize?: number;
  maxManifestBytes?: number;
  /** Debug events for each HTTP request (already redacted). */
  onRequest?: (e: HttpEvent) => void;
  /** Share one HTTP client (connection pool, request counts) between registry clients. */
  http?: HttpClient;
  /** Retry policy of the HTTP client this registry client makes (ignored with `http`). */
  retry?: Partial<RetryPolicy>;
  /**
   * Send this registry's API traffic to another address (registries.<host>.endpoint): a proxy, a
   * test registry standing in for ECR. Image names keep the registry's own host.
   */
  endpoint?: URL;
}

export interface ManifestResult {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export type MountResult = { mounted: true } | { mounted: false; uploadUrl: URL };

interface CallOptions {
  method: HttpMethod;
  url: URL;
  scopes: string[];
  what: string;
  headers?: Record<string, string>;
  body?: BodyFactory;
  /** false when the body cannot be made twice (a one-shot stream). */
  replayable?: boolean;
}

export class RegistryClient {
  /** The registry as in references: docker.io, ghcr.io, 127.0.0.1:5000. */
  readonly registry: string;
  readonly baseUrl: URL;
  readonly insecure: boolean;
  readonly http: HttpClient;
  readonly auth: RegistryAuth;
  readonly concurrency: number;
  readonly chunkSize: number;
  private readonly maxManifestBytes: number;
  /** Repositories this client pushes to: their token asks for push and pull at once. */
  private readonly pushRepos = new Set<string>();
  private readonly ownsHttp: boolean;

  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.insecure = opts.insecure ?? false;
    this.baseUrl = opts.endpoint !== undefined ? new URL('/', opts.endpoint) : new URL(`${this.insecure ? 'http' : 'https'}://${registryApiHost(registry)}/`);
    this.ownsHttp = opts.http === undefined;
    this.http =
      opts.http ??
      new HttpClient({
        ...(opts.onRequest === undefined ? {} : { onEvent: opts.onRequest }),
        ...(opts.retry === undefined ? {} : { retry: opts.retry }),
        userAgent: 'ferry',
      });
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
    this.chunkSize = Math.max(1024, opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.maxManifestBytes = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    const given = opts.credentials;
    const credentials = (): Promise<ResolvedCredential> => {
      if (given === undefined) return resolveCredentials(registry, opts.credentialOptions);
      if ('credential' in given) return Promise.resolve(given);
      return Promise.resolve({ credential: given, source: 'given credentials' });
    };
    this.auth = new RegistryAuth({ baseUrl: this.baseUrl, registry, insecure: this.insecure, http: this.http, credentials });
  }

  /** HTTP requests made so far by this client's HTTP client (token requests included). */
  get requestCount(): number {
    return this.http.stats.requests;
  }

  /** Declares that we push to `repository`, so one token covers the reads and the writes there. */
  preparePush(repository: string): void {
    this.checkRepo(repository);
    this.pushRepos.add(repository);
  }

  /** Closes pooled connections, unless the HTTP client was given (its owner closes it). */
  async close(): Promise<void> {
    if (this.ownsHttp) await this.http.close();
  }

  // ---- manifests ----------------------------------------------------------------------------

  /** GET a manifest or index by tag or digest; size-bounded, digest computed and verified. */
  async getManifest(repository: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT): Promise<ManifestResult> {
    this.checkRepo(repository);
    const byDigest = reference.includes(':');
    if (byDigest) assertDigest(reference);
    const what = `manifest ${repository}:${reference}`;
    const res = await this.call({
      method: 'GET',
      url: this.url(`${repository}/manifests/${reference}`),
      scopes: this.readScopes(repository),
      headers: { accept: accept.join(', ') },
      what: `reading ${what}`,
    });
    if (res.status !== 200) throw await this.failure(res, what);
    const declared = Number(res.header('content-length') ?? NaN);
    if (declared > this.maxManifestBytes) {
      await res.dump();
      throw this.tooLarge(what, declared);
    }
    let bytes: Buffer;
    try {
      bytes = await res.bytes(this.maxManifestBytes);
    } catch (e) {
      if (e instanceof FerryError && e.code === 'HTTP_BODY_TOO_LARGE') throw this.tooLarge(what, undefined);
      throw this.wrap(e);
    }
    const algorithm = byDigest ? digestAlgorithm(reference) : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (byDigest && digest !== reference) throw mismatchError(`${what} from ${this.registry}`, reference, digest);
    const served = res.header('docker-content-digest');
    if (!byDigest && served !== undefined && digestAlgorithm(served) === algorithm && served !== digest) {
      throw mismatchError(`${what} from ${this.registry}`, served, digest);
    }
    return { bytes, digest, mediaType: manifestMediaType(res.header('content-type'), bytes) };
  }

  /** HEAD a manifest: its digest, media type and size, or undefined when it does not exist. */
  async headManifest(repository: string, reference: string, accept: readonly string[] = MANIFEST_ACCEPT): Promise<ManifestHead | undefined> {
    this.checkRepo(repository);
    const what = `manifest ${repository}:${reference}`;
    const res = await this.call({
      method: 'HEAD',
      url: this.url(`${repository}/manifests/${reference}`),
      scopes: this.readScopes(repository),
      headers: { accept: accept.join(', ') },
      what: `reading ${what}`,
    });
    await res.dump();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.failure(res, what);
    const digest = res.header('docker-content-digest');
    const mediaType = res.header('content-type');
    const size = Number(res.header('content-length') ?? NaN);
    if (digest === undefined || mediaType === undefined || Number.isNaN(size)) {
      // Some registries leave these out of HEAD answers; the GET has everything.
      const m = await this.getManifest(repository, reference, accept);
      return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
    }
    return { digest, mediaType: normalizeMediaType(mediaType), size };
  }

  /** PUT a manifest under a tag or its digest; answers the digest. */
  async putManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    this.checkRepo(repository);
    const digest = digestOf(bytes);
    if (reference.includes(':') && assertDigest(reference) !== digestOf(bytes, digestAlgorithm(reference))) {
      throw dataError('REGISTRY_DIGEST_MISMATCH', `manifest bytes do not match ${reference}`, { details: { expected: reference } });
    }
    const what = `manifest ${repository}:${reference}`;
    const res = await this.call({
      method: 'PUT',
      url: this.url(`${repository}/manifests/${reference}`),
      scopes: this.writeScopes(repository),
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
      what: `writing ${what}`,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await this.failure(res, what);
    await res.dump();
    return digest;
  }

  // ---- blobs --------------------------------------------------------------------------------

  /** HEAD a blob: true when the registry has it in this repository. */
  async blobExists(repository: string, digest: string): Promise<boolean> {
    this.checkRepo(repository);
    assertDigest(digest);
    const what = `blob ${digest} in ${repository}`;
    const res = await this.call({
      method: 'HEAD',
      url: this.url(`${repository}/blobs/${digest}`),
      scopes: this.readScopes(repository),
      what: `checking ${what}`,
    });
    await res.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.failure(res, what);
  }

  /**
   * Cross-repository mount (POST ?mount=&from=): 201 means the registry linked the blob without any
   * upload; 202 means it would not (source unknown, or no pull right there) and opened an upload
   * session instead, which the caller can use for the upload.
   */
  async mountBlob(repository: string, digest: string, fromRepository: string): Promise<MountResult> {
    this.checkRepo(repository);
    this.checkRepo(fromRepository);
    assertDigest(digest);
    const url = this.url(`${repository}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', fromRepository);
    const what = `blob ${digest} mounted from ${fromRepository} into ${repository}`;
    const res = await this.call({
      method: 'POST',
      url,
      scopes: [...this.writeScopes(repository), repositoryScope(fromRepository, ['pull'])],
      headers: { 'content-length': '0' },
      what: `mounting ${what}`,
    });
    await res.dump();
    if (res.status === 201) return { mounted: true };
    if (res.status === 202) return { mounted: false, uploadUrl: this.location(res, what) };
    throw await this.failure(res, what);
  }

  /** Opens an upload session; answers where to send the data. */
  async startUpload(repository: string): Promise<URL> {
    this.checkRepo(repository);
    const what = `upload to ${repository}`;
    const res = await this.call({
      method: 'POST',
      url: this.url(`${repository}/blobs/uploads/`),
      scopes: this.writeScopes(repository),
      headers: { 'content-length': '0' },
      what: `starting ${what}`,
    });
    await res.dump();
    if (res.status !== 202) throw await this.failure(res, what);
    return this.location(res, what);
  }

  /**
   * Uploads a blob whose digest and size are known. Small blobs: one PUT. Large blobs: PATCH chunks
   * (Content-Range) following Location each time, then PUT ?digest=. A failure that may pass
   * (reset, 5xx, 429) starts the upload over with a fresh session and a fresh source stream:
   * registries (distribution 2.8 among them) cancel a session whose received size no longer
   * matches, so resuming mid-way is not reliable.
   */
  async uploadBlob(
    repository: string,
    blob: BlobRef,
    source: BlobSource,
    opts: { uploadUrl?: URL; onProgress?: (p: BlobProgress) => void; signal?: AbortSignal } = {},
  ): Promise<void> {
    this.checkRepo(repository);
    assertDigest(blob.digest);
    let first: URL | undefined = opts.uploadUrl;
    await this.withRetries(`uploading blob ${blob.digest} to ${repository}`, async () => {
      const start = first ?? (await this.startUpload(repository));
      first = undefined;
      const counter = new ByteCounter(opts.onProgress);
      if (blob.size <= this.chunkSize) {
        await this.putBlobData(repository, blob.digest, start, async () => pipeThrough(await source(), counter), blob.size);
        return;
      }
      const src = await source();
      const slicer = new Slicer(pipeThrough(src, counter));
      try {
        let location = start;
        for (let offset = 0; offset < blob.size; offset += this.chunkSize) {
          const len = Math.min(this.chunkSize, blob.size - offset);
          location = await this.patchChunk(repository, location, slicer.slice(len), offset, len);
        }
        await this.putBlobData(repository, blob.digest, location, undefined, 0);
      } finally {
        src.destroy();
      }
    }, opts.signal);
  }

  /**
   * Uploads a stream whose digest is not known in advance: one streaming PATCH while the digest is
   * computed in the same pass, then PUT ?digest=. The stream can be read only once, so a failure is
   * not retried here; the caller starts over with a new stream.
   */
  async uploadBlobStreaming(
    repository: string,
    stream: Readable,
    opts: { onProgress?: (p: BlobProgress) => void; expectedDigest?: string } = {},
  ): Promise<{ digest: string; size: number }> {
    this.checkRepo(repository);
    const hasher = new DigestingStream(opts.expectedDigest === undefined ? {} : { expected: opts.expectedDigest, what: `blob ${opts.expectedDigest}` });
    const counter = new ByteCounter(opts.onProgress);
    try {
      const start = await this.startUpload(repository);
      const what = `streaming upload to ${repository}`;
      const res = await this.call({
        method: 'PATCH',
        url: start,
        scopes: this.writeScopes(repository),
        headers: { 'content-type': 'application/octet-stream' },
        body: () => pipeThrough(pipeThrough(stream, hasher), counter),
        replayable: false,
        what,
      });
      if (res.status !== 202 && res.status !== 204) throw await this.failure(res, what);
      await res.dump();
      const digest = hasher.digest;
      if (digest === undefined) throw new FerryError('REGISTRY_UPLOAD_INCOMPLETE', `${what}: the registry answered before the stream ended`, { exitCode: ExitCode.TEMPFAIL, details: { transient: true } });
      await this.putBlobData(repository, digest, this.location(res, what), undefined, 0);
      return { digest, size: hasher.bytes };
    } catch (e) {
      stream.destroy();
      throw this.wrap(e);
    }
  }

  /**
   * GET a blob as a stream that is verified as it flows: it fails at its end with
   * REGISTRY_DIGEST_MISMATCH (or REGISTRY_SIZE_MISMATCH) when the bytes are not what was asked for.
   */
  async getBlob(repository: string, blob: string | BlobRef): Promise<Readable> {
    this.checkRepo(repository);
    const digest = typeof blob === 'string' ? blob : blob.digest;
    const size = typeof blob === 'string' ? undefined : blob.size;
    assertDigest(digest);
    const what = `blob ${digest} in ${repository}`;
    const res = await this.call({
      method: 'GET',
      url: this.url(`${repository}/blobs/${digest}`),
      scopes: this.readScopes(repository),
      what: `reading ${what}`,
    });
    if (res.status !== 200) throw await this.failure(res, what);
    const verify = new DigestingStream({ expected: digest, what: `${what} from ${this.registry}`, ...(size === undefined ? {} : { expectedSize: size }) });
    const out = new PassThrough();
    pipeline(res.body, verify, out, (err) => {
      // Node passes undefined (not null, as its types say) on success.
      if (!(err instanceof Error)) return;
      // A dropped connection mid-body is a transient failure a copy can start over from.
      const e = err instanceof FerryError ? err : classifyNetworkError(err, 'GET', res.url);
      out.destroy(e);
    });
    return out;
  }

  /**
   * Copies a blob from another repository (same or other registry) into `toRepository`: a
   * cross-repository mount when both are on this registry, else a stream from the source straight
   * into the upload, never held whole. Answers what happened.
   */
  async copyBlob(
    from: RegistryClient,
    fromRepository: string,
    toRepository: string,
    blob: BlobRef,
    opts: { onProgress?: (p: BlobProgress) => void; signal?: AbortSignal } = {},
  ): Promise<'mounted' | 'uploaded'> {
    let uploadUrl: URL | undefined;
    if (this.sameRegistry(from) && fromRepository !== toRepository) {
      try {
        const m = await this.mountBlob(toRepository, blob.digest, fromRepository);
        if (m.mounted) return 'mounted';
        uploadUrl = m.uploadUrl;
      } catch (e) {
        // Our account may not read the source repository (its client may log in as someone else):
        // then the mount is refused, but copying with the source's own credentials can still work.
        if (!(e instanceof FerryError) || (e.code !== 'REGISTRY_DENIED' && e.code !== 'REGISTRY_AUTH_FAILED')) throw e;
      }
    }
    await this.uploadBlob(toRepository, blob, () => from.getBlob(fromRepository, blob), {
      ...(uploadUrl === undefined ? {} : { uploadUrl }),
      ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    return 'uploaded';
  }

  /** True when `other` talks to the same registry endpoint (so mounts can work between them). */
  sameRegistry(other: RegistryClient): boolean {
    return other.baseUrl.href === this.baseUrl.href;
  }

  // ---- internals ----------------------------------------------------------------------------

  private async patchChunk(repository: string, location: URL, body: Readable, offset: number, len: number): Promise<URL> {
    const what = `chunk ${offset}-${offset + len - 1} of an upload to ${repository}`;
    const res = await this.call({
      method: 'PATCH',
      url: location,
      scopes: this.writeScopes(repository),
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(len),
        'content-range': `${offset}-${offset + len - 1}`,
      },
      body: () => body,
      replayable: false,
      what: `sending ${what}`,
    });
    if (res.status !== 202 && res.status !== 204) throw await this.failure(res, what);
    await res.dump();
    const range = res.header('range');
    const m = range === undefined ? null : /^(?:bytes=)?0-(\d+)$/.exec(range);
    if (m !== null && Number(m[1]) !== offset + len - 1) {
      throw tempError('REGISTRY_UPLOAD_OUT_OF_SYNC', `${this.registry} has ${Number(m[1]) + 1} bytes of the upload, expected ${offset + len}`, {
        details: { transient: true },
      });
    }
    return this.location(res, what);
  }

  /** The closing PUT ?digest= of an upload, with the data (monolithic) or without (after PATCHes). */
  private async putBlobData(repository: string, digest: string, location: URL, body: BodyFactory | undefined, size: number): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const what = `blob ${digest} in ${repository}`;
    const res = await this.call({
      method: 'PUT',
      url,
      scopes: this.writeScopes(repository),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      ...(body === undefined ? {} : { body }),
      replayable: body === undefined,
      what: `uploading ${what}`,
    });
    if (res.status !== 201 && res.status !== 204 && res.status !== 200) throw await this.failure(res, what);
    await res.dump();
  }

  private async withRetries<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await this.http.withRetries(what, fn, signal);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /** One registry request: attaches auth, answers a 401 once by authenticating again. */
  private async call(o: CallOptions): Promise<HttpResponse> {
    const replayable = o.replayable ?? true;
    for (let round = 0; ; round++) {
      let res: HttpResponse;
      let sentAuthorization: string | undefined;
      try {
        const authorization = await this.auth.header(o.scopes);
        sentAuthorization = authorization;
        res = await this.http.request({
          method: o.method,
          url: o.url,
          headers: { ...o.headers, ...(authorization === undefined ? {} : { authorization }) },
          ...(o.body === undefined ? {} : { body: o.body }),
          retry: replayable,
          allowInsecure: this.insecure,
        });
      } catch (e) {
        throw this.wrap(e);
      }
      if (res.status !== 401) return res;
      await res.dump();
      const again = await this.auth.unauthorized(res, o.scopes, sentAuthorization);
      if (again && round === 0) {
        if (replayable) continue;
        // The body is gone; the caller's retry loop starts over with a new stream and a new token.
        throw tempError('REGISTRY_TOKEN_EXPIRED', `${this.registry} refused the token while ${o.what}`, { details: { transient: true } });
      }
      throw await this.auth.refused(res, o.what);
    }
  }

  /** Maps a registry's error answer to a FerryError. */
  private async failure(res: HttpResponse, what: string): Promise<FerryError> {
    let codes: string[] = [];
    let message = '';
    try {
      const text = await res.text(64 * 1024);
      const parsed = JSON.parse(text === '' ? '{}' : text) as { errors?: { code?: unknown; message?: unknown }[] };
      codes = (parsed.errors ?? []).map((x) => (typeof x.code === 'string' ? x.code : '')).filter((c) => c !== '');
      message = (parsed.errors ?? [])
        .map((x) => (typeof x.message === 'string' ? x.message : ''))
        .filter((m) => m !== '')
        .join('; ');
    } catch {
      // not a JSON error body; the status says enough
    }
    const said = message === '' ? '' : `: ${redact(message)}`;
    const details = { registry: this.registry, status: res.status, registryCodes: codes };
    if (res.status === 403 || codes.includes('DENIED')) return this.auth.refused(res, what);
    if (res.status === 404 || codes.some((c) => c.endsWith('_UNKNOWN'))) {
      return dataError('REGISTRY_NOT_FOUND', `${what} was not found on ${this.registry}${said}`, {
        details,
        suggestions: ['check the repository name, tag and digest'],
      });
    }
    if (codes.includes('NAME_INVALID')) {
      return dataError('REGISTRY_NAME_INVALID', `${this.registry} refused the repository name in ${what}${said}`, { details });
    }
    if (res.status === 413) {
      return dataError('REGISTRY_REJECTED', `${this.registry} refused ${what} as too large${said}`, {
        details,
        suggestions: ['a proxy in front of the registry may limit request sizes; lower the upload chunk size'],
      });
    }
    if (codes.includes('UNSUPPORTED') || res.status === 405) {
      return unavailableError('REGISTRY_UNSUPPORTED', `${this.registry} does not support ${what}${said}`, { details });
    }
    if (res.status >= 400 && res.status < 500) {
      return dataError('REGISTRY_REJECTED', `${this.registry} refused ${what} (${res.status}${codes.length > 0 ? ` ${codes.join(', ')}` : ''})${said}`, { details });
    }
    return unavailableError('REGISTRY_ERROR', `${this.registry} answered ${res.status} for ${what}${said}`, { details });
  }

  /** Transport failures, named after the registry rather than the HTTP layer. */
  private wrap(e: unknown): unknown {
    if (!(e instanceof FerryError)) return e;
    const host = this.registry;
    switch (e.code) {
      case 'HTTP_RETRIES_EXHAUSTED':
        return tempError('REGISTRY_UNAVAILABLE', `${host} kept failing: ${e.message}`, {
          cause: e,
          ...(e.details === undefined ? {} : { details: e.details }),
          suggestions: [`the registry ${host} (or the network to it) failed repeatedly; try again later`],
        });
      case 'HTTP_CONNECTION_REFUSED':
      case 'HTTP_HOST_NOT_FOUND':
        return unavailableError('REGISTRY_UNREACHABLE', `cannot reach the registry ${host}: ${e.message}`, {
          cause: e,
          suggestions: [...e.suggestions, ...(this.insecure ? [] : [`if ${host} is a plain-HTTP registry, mark it insecure in ferry.yaml`])],
        });
      default:
        return e;
    }
  }

  private location(res: HttpResponse, what: string): URL {
    const loc = res.header('location');
    if (loc === undefined || loc === '') {
      throw unavailableError('REGISTRY_PROTOCOL_ERROR', `${this.registry} gave no Location for ${what}`, {
        details: { registry: this.registry, status: res.status },
      });
    }
    const u = new URL(loc, res.url);
    if (u.protocol === 'http:' && !this.insecure) {
      throw unavailableError('REGISTRY_PROTOCOL_ERROR', `${this.registry} sent an upload location over plain http`, {
        details: { registry: this.registry },
      });
    }
    return u;
  }

  private tooLarge(what: string, size: number | undefined): FerryError {
    return dataError('REGISTRY_MANIFEST_TOO_LARGE', `${what} on ${this.registry} is larger than ${this.maxManifestBytes} bytes${size === undefined ? '' : ` (${size})`}`, {
      details: { limit: this.maxManifestBytes, ...(size === undefined ? {} : { size }) },
    });
  }

  private url(path: string): URL {
    return new URL(`/v2/${path}`, this.baseUrl);
  }

  private checkRepo(repository: string): void {
    if (!REPO_RE.test(repository) || repository.length > 255) {
      throw dataError('IMAGE_REF_INVALID', `invalid repository name "${repository}"`, {
        details: { reference: repository, problem: 'format' },
      });
    }
  }

  private readScopes(repository: string): string[] {
    return [repositoryScope(repository, this.pushRepos.has(repository) ? ['pull', 'push'] : ['pull'])];
  }

  private writeScopes(repository: string): string[] {
    return [repositoryScope(repository, ['pull', 'push'])];
  }
}

/** The media type of a manifest: from Content-Type, or from its own mediaType field when the server sends a generic one. */
function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const ct = contentType === undefined ? '' : normalizeMediaType(contentType);
  if (ct !== '' && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream') return ct;
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof parsed.mediaType === 'string') return parsed.mediaType;
    // OCI allows leaving mediaType out; an index has `manifests`.
    return Array.isArray(parsed.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
  } catch {
    return ct;
  }
}

class ByteCounter extends Transform {
  bytes = 0;
  constructor(private readonly onProgress: ((p: BlobProgress) => void) | undefined) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onProgress?.({ bytes: this.bytes });
    cb(null, chunk);
  }
}

/** src → through, with errors of src carried into `through` (which is what the consumer reads). */
function pipeThrough(src: Readable, through: Transform): Transform {
  src.once('error', (e) => through.destroy(e));
  return src.pipe(through);
}

/**
 * Cuts one stream into consecutive pieces of given lengths, streaming: no piece is held whole,
 * so a 1 GB layer goes out in chunks with constant memory.
 */
class Slicer {
  private readonly it: AsyncIterator<Buffer>;
  private leftover: Buffer | undefined;

  constructor(src: Readable) {
    this.it = (src as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  slice(length: number): Readable {
    return Readable.from(this.pieces(length), { objectMode: false });
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.leftover !== undefined) {
      const b = this.leftover;
      this.leftover = undefined;
      return b;
    }
    const r = await this.it.next();
    return r.done === true ? undefined : r.value;
  }

  private async *pieces(length: number): AsyncGenerator<Buffer> {
    let remaining = length;
    while (remaining > 0) {
      const b = await this.next();
      if (b === undefined) return;
      if (b.length > remaining) {
        this.leftover = b.subarray(remaining);
        const head = b.subarray(0, remaining);
        remaining = 0;
        yield head;
      } else {
        remaining -= b.length;
        yield b;
      }
    }
  }
}

