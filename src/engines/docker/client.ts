/**
 * A small Docker Engine API client: the calls ferry needs to load, build, export and run images on
 * a Docker daemon or on anything that speaks its API (podman's `podman system service`, Colima,
 * Docker Desktop, a remote engine over TLS).
 *
 * Why not infra/http.ts: that client is for registries (https URLs, redirects, retries of
 * idempotent requests), while the engine is reached over a unix socket, its streaming calls
 * (logs, wait, build, load) must not time out, and none of its calls may be retried blindly (a
 * retried `create` makes a second container). It is still the only file that talks to an engine.
 *
 * The API version is pinned to v1.41: Docker 20.10 introduced it, every later Docker serves it
 * (their minimum is 1.24), and podman 4.3's compat API serves it too. Negotiating could only pick
 * a version whose behaviour ferry was not tested against.
 *
 * Nothing secret is logged: debug lines carry the method and the path without its query (build
 * args travel in the query), and registry credentials for builds travel in a header that is never
 * logged.
 */
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher, Pool } from 'undici';
import type { Reporter } from '../../core/context.js';
import { dataError, FerryError, unavailableError } from '../../core/errors.js';
import { redact } from '../../infra/redact.js';
import { errorCodes } from '../../infra/http.js';
import { describeEndpoint, type DockerEndpoint } from './endpoint.js';

export const DOCKER_API_VERSION = 'v1.41';

export interface DockerVersion {
  /** Docker's version ("28.2.2"), or podman's ("4.3.1") for podman's compat API. */
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
  /** "docker", or "podman" when the server says it is Podman Engine. */
  product: 'docker' | 'podman';
}

export interface ImageInfo {
  /** The image ID: sha256 of its config, the same as the config digest. */
  id: string;
  repoTags: string[];
  architecture: string;
  os: string;
}

export interface BuildOptions {
  /** The Dockerfile's path inside the context tar (default "Dockerfile"). */
  dockerfile?: string;
  /** Names for the image, NAME[:TAG] (repeatable `t`). */
  tag?: string | string[];
  buildArgs?: Record<string, string>;
  /** The stage to build (--target). */
  target?: string;
  /** os/arch[/variant]. */
  platform?: string;
  labels?: Record<string, string>;
  noCache?: boolean;
  /** Always pull base images, even when the engine has them. */
  pull?: boolean;
  /**
   * Credentials for base images on private registries, by registry host, sent in the
   * X-Registry-Config header (never logged).
   */
  registryAuth?: Record<string, { username: string; password: string }>;
  signal?: AbortSignal;
}

/** The container-create body, in the Engine API's own field names (docs.docker.com/engine/api). */
export interface ContainerSpec {
  Image: string;
  Cmd?: string[];
  /** [""] clears the image's ENTRYPOINT. */
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  OpenStdin?: boolean;
  HostConfig?: {
    Binds?: string[];
    PortBindings?: Record<string, { HostIp?: string; HostPort: string }[]>;
    NetworkMode?: string;
    /** Bytes. */
    Memory?: number;
    /** CPUs × 10⁹. */
    NanoCpus?: number;
    AutoRemove?: boolean;
  };
}

export interface ContainerState {
  status: string;
  running: boolean;
  exitCode: number;
  oomKilled: boolean;
  error: string;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** The container has a TTY: its log stream is raw, not multiplexed. */
  tty?: boolean;
  signal?: AbortSignal;
}

export interface DockerClientOptions {
  reporter?: Reporter;
  /** Timeout for calls that answer at once (not logs, wait, build, load, export). Default 60 s. */
  requestTimeoutMs?: number;
  /** Connect timeout (default 10 s). */
  connectTimeoutMs?: number;
}

type Method = 'GET' | 'HEAD' | 'POST' | 'DELETE';

interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** An already encoded query (repeated keys such as build's `t`). */
  rawQuery?: string;
  json?: unknown;
  body?: Readable;
  contentType?: string;
  headers?: Record<string, string>;
  /** No headers/body timeout: logs --follow, wait, build, load, export. */
  streaming?: boolean;
  signal?: AbortSignal | undefined;
  /** What the call is for, in errors ("create the container"). */
  what: string;
}

export class DockerClient {
  readonly endpoint: DockerEndpoint;
  private pool: Pool | undefined;
  private readonly opts: DockerClientOptions;

  constructor(endpoint: DockerEndpoint, opts: DockerClientOptions = {}) {
    this.endpoint = endpoint;
    this.opts = opts;
  }

  /** "unix:///var/run/docker.sock", "https://host:2376". */
  get address(): string {
    return describeEndpoint(this.endpoint);
  }

  /** GET /_ping: resolves when the engine answers; ENGINE_UNREACHABLE when nothing listens. */
  async ping(signal?: AbortSignal): Promise<void> {
    const r = await this.call('GET', '/_ping', { what: 'reach the engine', signal });
    await this.expectOk(r, 'reach the engine');
    await r.body.dump();
  }

  async version(): Promise<DockerVersion> {
    const v = (await this.json('GET', '/version', { what: 'read the engine version' })) as {
      Version?: string;
      ApiVersion?: string;
      Os?: string;
      Arch?: string;
      Components?: { Name?: string }[];
    };
    const podman = (v.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''));
    return { version: v.Version ?? '', apiVersion: v.ApiVersion ?? '', os: v.Os ?? '', arch: v.Arch ?? '', product: podman ? 'podman' : 'docker' };
  }

  /** The image by ID or name; undefined when the engine does not have it. */
  async imageInspect(ref: string): Promise<ImageInfo | undefined> {
    const r = await this.call('GET', `/images/${encodeURIComponent(ref)}/json`, { what: `inspect image ${ref}` });
    if (r.statusCode === 404) {
      await r.body.dump();
      return undefined;
    }
    await this.expectOk(r, `inspect image ${ref}`);
    const v = (await r.body.json()) as { Id?: string; RepoTags?: string[] | null; Architecture?: string; Os?: string };
    return { id: v.Id ?? '', repoTags: v.RepoTags ?? [], architecture: v.Architecture ?? '', os: v.Os ?? '' };
  }

  /**
   * POST /images/load: loads a `docker save` archive (manifest.json, configs and layers; gzip
   * layers are accepted by Docker and podman). Returns the engine's "Loaded image…" lines.
   */
  async loadImage(tar: Readable, signal?: AbortSignal): Promise<string[]> {
    const r = await this.call('POST', '/images/load', { query: { quiet: 1 }, body: tar, contentType: 'application/x-tar', streaming: true, signal, what: 'load the image' });
    await this.expectOk(r, 'load the image');
    const loaded: string[] = [];
    await readJsonMessages(r.body, (m) => {
      const err = messageError(m);
      if (err !== undefined) throw new FerryError('ENGINE_ERROR', `the engine could not load the image: ${err}`, { exitCode: 69, details: { engine: this.address } });
      if (typeof m.stream === 'string' && m.stream.trim() !== '') loaded.push(m.stream.trim());
    });
    return loaded;
  }

  /**
   * POST /images/create: pulls `fromImage:tag` for a platform, following the progress messages to
   * their end; an error message becomes ENGINE_PULL_FAILED (69). Credentials are the engine's own.
   */
  async pullImage(fromImage: string, tag: string, platform?: string, signal?: AbortSignal): Promise<void> {
    const what = `pull ${fromImage}:${tag}`;
    const r = await this.call('POST', '/images/create', { query: { fromImage, tag, platform }, streaming: true, signal, what });
    await this.expectOk(r, what);
    await readJsonMessages(r.body, (m) => {
      const err = messageError(m);
      if (err !== undefined) {
        throw new FerryError('ENGINE_PULL_FAILED', `the engine could not ${what}: ${err}`, { exitCode: 69, details: { engine: this.address } });
      }
    });
  }

  /** POST /images/{name}/tag: gives the image `source` the name `repo:tag`. */
  async tagImage(source: string, repo: string, tag: string): Promise<void> {
    const what = `tag ${source} as ${repo}:${tag}`;
    const r = await this.call('POST', `/images/${encodeURIComponent(source)}/tag`, { query: { repo, tag }, what });
    await this.expectOk(r, what);
    await r.body.dump();
  }

  /**
   * GET /images/{name}/get: the image as a `docker save` archive (a tar stream with manifest.json,
   * the config and uncompressed layers; Docker 25+ also adds an OCI layout). The caller must read
   * the stream to its end or destroy it.
   */
  async exportImage(ref: string, signal?: AbortSignal): Promise<Readable> {
    const r = await this.call('GET', `/images/${encodeURIComponent(ref)}/get`, { streaming: true, signal, what: `export image ${ref}` });
    await this.expectOk(r, `export image ${ref}`);
    return r.body;
  }

  /**
   * POST /build: builds a Dockerfile from a context tar (plain or gzip). `onLine` receives each
   * line of the build's output (the `stream` messages) as it comes. A failed build throws
   * ENGINE_BUILD_FAILED (65) whose message ends with the engine's own error and last output lines.
   * Returns the built image ID (sha256:…).
   */
  async build(context: Readable, opts: BuildOptions, onLine: (line: string) => void): Promise<string> {
    const tags = opts.tag === undefined ? [] : Array.isArray(opts.tag) ? opts.tag : [opts.tag];
    const query = new URLSearchParams();
    if (opts.dockerfile !== undefined) query.set('dockerfile', opts.dockerfile);
    for (const t of tags) query.append('t', t);
    if (opts.buildArgs !== undefined && Object.keys(opts.buildArgs).length > 0) query.set('buildargs', JSON.stringify(opts.buildArgs));
    if (opts.labels !== undefined && Object.keys(opts.labels).length > 0) query.set('labels', JSON.stringify(opts.labels));
    if (opts.target !== undefined) query.set('target', opts.target);
    if (opts.platform !== undefined) query.set('platform', opts.platform);
    if (opts.noCache === true) query.set('nocache', '1');
    if (opts.pull === true) query.set('pull', '1');
    // Remove intermediate containers, also when a step fails (docker build's default).
    query.set('rm', '1');
    query.set('forcerm', '1');
    const headers: Record<string, string> = {};
    if (opts.registryAuth !== undefined) {
      const auth: Record<string, { username: string; password: string }> = {};
      for (const [host, c] of Object.entries(opts.registryAuth)) auth[host] = { username: c.username, password: c.password };
      headers['x-registry-config'] = Buffer.from(JSON.stringify(auth)).toString('base64url');
    }
    const r = await this.call('POST', '/build', {
      rawQuery: query.toString(),
      body: context,
      contentType: 'application/x-tar',
      headers,
      streaming: true,
      signal: opts.signal,
      what: 'build the image',
    });
    if (r.statusCode >= 400) {
      const msg = await errorMessage(r);
      throw dataError('ENGINE_BUILD_FAILED', `the engine refused the build (${r.statusCode}): ${msg}`, {
        details: { status: r.statusCode, engine: this.address },
        suggestions: ['check the Dockerfile path and the build options'],
      });
    }
    const recent: string[] = [];
    let partial = '';
    let id: string | undefined;
    const emit = (line: string): void => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      onLine(line);
    };
    await readJsonMessages(r.body, (m) => {
      const err = messageError(m);
      if (err !== undefined) {
        if (partial !== '') emit(partial);
        partial = '';
        throw dataError('ENGINE_BUILD_FAILED', `the build failed: ${err}${recent.length > 0 ? `\n${recent.join('\n')}` : ''}`, {
          details: { engine: this.address, engineError: err },
          suggestions: ['read the build output above; fix the Dockerfile step that failed'],
        });
      }
      const auxId = (m.aux as { ID?: unknown } | undefined)?.ID;
      if (typeof auxId === 'string') id = auxId;
      if (typeof m.stream === 'string') {
        const text = partial + m.stream;
        const lines = text.split(/\r?\n/);
        partial = lines.pop() ?? '';
        for (const l of lines) {
          emit(l);
          const built = /^Successfully built ([0-9a-f]{12,64})$/.exec(l.trim());
          if (built?.[1] !== undefined) id ??= built[1];
        }
      }
    });
    if (partial !== '') emit(partial);
    if (id === undefined) {
      throw new FerryError('ENGINE_ERROR', 'the engine finished the build without naming the image it built', { exitCode: 69, details: { engine: this.address } });
    }
    if (!id.startsWith('sha256:')) {
      // "Successfully built 1a2b3c…" gives a short ID; the engine knows the full one.
      id = (await this.imageInspect(id))?.id ?? id;
    }
    return id;
  }

  async createContainer(spec: ContainerSpec, name?: string): Promise<{ id: string; warnings: string[] }> {
    const v = (await this.json('POST', '/containers/create', { query: { name }, json: spec, what: 'create the container' })) as { Id?: string; Warnings?: string[] | null };
    return { id: v.Id ?? '', warnings: v.Warnings ?? [] };
  }

  async startContainer(id: string): Promise<void> {
    const r = await this.call('POST', `/containers/${id}/start`, { what: 'start the container' });
    if (r.statusCode === 304) {
      await r.body.dump();
      return;
    }
    await this.expectOk(r, 'start the container');
    await r.body.dump();
  }

  /**
   * GET /containers/{id}/logs: the container's output, demultiplexed into stdout and stderr as it
   * comes. With `follow`, resolves when the container's output ends (it has stopped).
   */
  async containerLogs(id: string, opts: LogsOptions, onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<void> {
    const r = await this.call('GET', `/containers/${id}/logs`, {
      query: { follow: opts.follow === true ? 1 : 0, stdout: opts.stdout ?? true ? 1 : 0, stderr: opts.stderr ?? true ? 1 : 0 },
      streaming: true,
      signal: opts.signal,
      what: 'read the container output',
    });
    await this.expectOk(r, 'read the container output');
    if (opts.tty === true) {
      for await (const c of r.body as AsyncIterable<Buffer>) onStdout(c);
      return;
    }
    await demultiplex(r.body as AsyncIterable<Buffer>, onStdout, onStderr);
  }

  /** POST /containers/{id}/wait: the exit code once the container is no longer running. */
  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    const v = (await this.json('POST', `/containers/${id}/wait`, { query: { condition: 'not-running' }, streaming: true, signal, what: 'wait for the container' })) as {
      StatusCode?: number;
    };
    return v.StatusCode ?? -1;
  }

  /** The container's state; undefined when it does not exist (any more). */
  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    const r = await this.call('GET', `/containers/${id}/json`, { what: 'inspect the container' });
    if (r.statusCode === 404) {
      await r.body.dump();
      return undefined;
    }
    await this.expectOk(r, 'inspect the container');
    const v = (await r.body.json()) as { State?: { Status?: string; Running?: boolean; ExitCode?: number; OOMKilled?: boolean; Error?: string } };
    const s = v.State ?? {};
    return { status: s.Status ?? '', running: s.Running ?? false, exitCode: s.ExitCode ?? -1, oomKilled: s.OOMKilled ?? false, error: s.Error ?? '' };
  }

  /** Sends a signal; a container that is not running (409) or gone (404) is not an error. */
  async killContainer(id: string, signal = 'SIGKILL'): Promise<void> {
    const r = await this.call('POST', `/containers/${id}/kill`, { query: { signal }, what: 'stop the container' });
    if (r.statusCode === 404 || r.statusCode === 409) {
      await r.body.dump();
      return;
    }
    await this.expectOk(r, 'stop the container');
    await r.body.dump();
  }

  /** SIGTERM (or the image's STOPSIGNAL), then SIGKILL after `timeoutSeconds`. */
  async stopContainer(id: string, timeoutSeconds = 10): Promise<void> {
    const r = await this.call('POST', `/containers/${id}/stop`, { query: { t: timeoutSeconds }, streaming: true, what: 'stop the container' });
    if (r.statusCode === 304 || r.statusCode === 404) {
      await r.body.dump();
      return;
    }
    await this.expectOk(r, 'stop the container');
    await r.body.dump();
  }

  /** Removes the container (and its anonymous volumes); gone already is not an error. */
  async removeContainer(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const r = await this.call('DELETE', `/containers/${id}`, { query: { force: opts.force === true ? 1 : 0, v: 1 }, what: 'remove the container' });
    if (r.statusCode === 404) {
      await r.body.dump();
      return;
    }
    await this.expectOk(r, 'remove the container');
    await r.body.dump();
  }

  /** HEAD /containers/{id}/archive: whether a path exists in a (created, not necessarily started) container. */
  async pathExists(id: string, path: string): Promise<boolean> {
    const r = await this.call('HEAD', `/containers/${id}/archive`, { query: { path }, what: `look for ${path} in the container` });
    await r.body.dump();
    if (r.statusCode === 404) return false;
    await this.expectOk(r, `look for ${path} in the container`);
    return true;
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    if (p !== undefined) await p.destroy();
  }

  private async json(method: Method, path: string, opts: CallOptions): Promise<unknown> {
    const r = await this.call(method, path, opts);
    await this.expectOk(r, opts.what);
    return r.body.json();
  }

  private async dispatcher(): Promise<Pool> {
    if (this.pool !== undefined) return this.pool;
    // undici is CommonJS: Node gives named exports, a bundler may give only the default export.
    const mod = (await import('undici')) as typeof import('undici') & { default?: typeof import('undici') };
    const undici = mod.default ?? mod;
    const e = this.endpoint;
    const connectTimeout = this.opts.connectTimeoutMs ?? 10_000;
    // A few connections: logs --follow and wait are held open side by side while a run lasts.
    if (e.kind === 'unix') {
      this.pool = new undici.Pool('http://localhost', { socketPath: e.socketPath, connections: 6, connect: { timeout: connectTimeout } });
    } else {
      const connect =
        e.tls === undefined
          ? { timeout: connectTimeout }
          : {
              timeout: connectTimeout,
              rejectUnauthorized: e.tls.verify,
              ...(e.tls.ca === undefined ? {} : { ca: e.tls.ca }),
              ...(e.tls.cert === undefined ? {} : { cert: e.tls.cert }),
              ...(e.tls.key === undefined ? {} : { key: e.tls.key }),
            };
      const host = e.host.includes(':') ? `[${e.host}]` : e.host;
      this.pool = new undici.Pool(`${e.tls === undefined ? 'http' : 'https'}://${host}:${e.port}`, { connections: 6, connect });
    }
    return this.pool;
  }

  private async call(method: Method, path: string, opts: CallOptions): Promise<Dispatcher.ResponseData> {
    const pool = await this.dispatcher();
    let qs = opts.rawQuery ?? '';
    if (opts.query !== undefined) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) q.set(k, String(v));
      qs = q.toString();
    }
    const fullPath = `/${DOCKER_API_VERSION}${path}${qs === '' ? '' : `?${qs}`}`;
    this.opts.reporter?.debug(`engine ${method} ${path} (${this.address})`);
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | Readable | null = null;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    } else if (opts.body !== undefined) {
      body = opts.body;
      headers['content-type'] = opts.contentType ?? 'application/octet-stream';
    }
    const timeout = opts.streaming === true ? 0 : (this.opts.requestTimeoutMs ?? 60_000);
    try {
      return await pool.request({
        method,
        path: fullPath,
        headers,
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: opts.signal ?? null,
      });
    } catch (e) {
      throw this.transportError(e, opts.what);
    }
  }

  private transportError(e: unknown, what: string): FerryError {
    if (e instanceof FerryError) return e;
    const codes = errorCodes(e);
    const name = (e as { name?: unknown }).name;
    if (name === 'AbortError' || codes.includes('ABORT_ERR') || codes.includes('UND_ERR_ABORTED')) {
      return new FerryError('ENGINE_ABORTED', `stopped while trying to ${what}`, { exitCode: 75, cause: e });
    }
    const where = this.address;
    const isSocket = this.endpoint.kind === 'unix';
    const refused = codes.includes('ECONNREFUSED');
    const missing = codes.includes('ENOENT');
    const denied = codes.includes('EACCES') || codes.includes('EPERM');
    const reason = refused
      ? isSocket
        ? 'the socket exists, but nothing is listening on it'
        : 'the connection was refused'
      : missing
        ? 'the socket does not exist'
        : denied
          ? 'permission denied'
          : (codes[0] ?? (e instanceof Error ? e.message : String(e)));
    const suggestions = denied
      ? ['add your user to the group that owns the socket (for Docker: sudo usermod -aG docker $USER, then log in again)']
      : [
          isSocket ? `start the engine that should listen on ${where} (Docker: systemctl start docker; podman: podman system service --time=0 ${where})` : `check that the engine at ${where} is running and reachable`,
          'or point DOCKER_HOST (or a docker context) at a running engine, or use --engine podman',
        ];
    return unavailableError('ENGINE_UNREACHABLE', `cannot ${what}: the Docker Engine API at ${where} is not reachable (${redact(reason)}; from ${this.endpoint.source})`, {
      cause: e,
      where,
      details: { engine: where, codes },
      suggestions,
    });
  }

  private async expectOk(r: Dispatcher.ResponseData, what: string): Promise<void> {
    if (r.statusCode < 400) return;
    const msg = await errorMessage(r);
    const details = { status: r.statusCode, engine: this.address, engineMessage: msg };
    if (r.statusCode >= 500) {
      throw unavailableError('ENGINE_ERROR', `the engine failed to ${what} (${r.statusCode}): ${msg}`, { details, suggestions: ["read the engine's message; check the engine's own logs"] });
    }
    if (r.statusCode === 400 && /client version .* is too new/i.test(msg)) {
      throw unavailableError('ENGINE_ERROR', `the engine at ${this.address} is older than Docker 20.10 (it does not serve API ${DOCKER_API_VERSION}): ${msg}`, {
        details,
        suggestions: ['upgrade the engine to Docker 20.10 or newer, or use --engine podman'],
      });
    }
    throw dataError('ENGINE_REJECTED', `the engine refused to ${what} (${r.statusCode}): ${msg}`, { details, suggestions: ["read the engine's message; it names the value it refused"] });
  }
}

async function errorMessage(r: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  try {
    text = (await r.body.text()).slice(0, 4096);
    const v = JSON.parse(text) as { message?: unknown };
    if (typeof v.message === 'string') return redact(v.message);
  } catch {
    // not JSON: the text itself
  }
  return redact(text.trim() || `HTTP ${r.statusCode}`);
}


type JsonMessage = Record<string, unknown>;

function messageError(m: JsonMessage): string | undefined {
  const detail = (m.errorDetail as { message?: unknown } | undefined)?.message;
  if (typeof detail === 'string' && detail !== '') return redact(detail);
  if (typeof m.error === 'string' && m.error !== '') return redact(m.error);
  return undefined;
}

/**
 * The JSON message streams of /build and /images/load: JSON objects one after another, usually one
 * per line (Docker ends each with \r\n), but a reader must not rely on the line breaks.
 */
export async function readJsonMessages(body: AsyncIterable<Buffer | string>, onMessage: (m: JsonMessage) => void): Promise<void> {
  let buf = '';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  // A character's bytes may be split across chunks.
  const decoder = new StringDecoder('utf8');
  for await (const chunk of body) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const offset = buf.length;
    buf += text;
    for (let i = offset; i < buf.length; i++) {
      const c = buf[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}') {
        depth--;
        if (depth === 0 && start !== -1) {
          onMessage(JSON.parse(buf.slice(start, i + 1)) as JsonMessage);
          start = -1;
        }
      }
    }
    if (depth === 0) buf = '';
    else if (start > 0) {
      buf = buf.slice(start);
      start = 0;
    }
  }
}

/**
 * The Engine API's multiplexed stream (containers without a TTY): frames of an 8-byte header,
 * [stream type, 0, 0, 0, size as big-endian uint32], then `size` bytes. Type 1 is stdout, 2 is
 * stderr (0, stdin, is written as stdout; 3, the engine's own errors, as stderr). Frames may be
 * split across chunks, or several may share one.
 */
export async function demultiplex(source: AsyncIterable<Buffer>, onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of source) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 8) break;
      const type = pending[0] ?? 1;
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const frame = pending.subarray(8, 8 + size);
      if (type === 2 || type === 3) onStderr(frame);
      else onStdout(frame);
      pending = pending.subarray(8 + size);
    }
  }
  if (pending.length > 0) {
    throw new FerryError('ENGINE_ERROR', `the engine's output stream ended inside a frame (${pending.length} bytes left over)`, { exitCode: 69 });
  }
}

/** For tests and callers that have a whole buffer: the frame format written by the engine. */
export function muxFrame(type: 1 | 2, data: Buffer | string): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** A readable from a buffer or string, e.g. a context tar made in memory. */
export function readableOf(data: Buffer | string): Readable {
  return Readable.from([typeof data === 'string' ? Buffer.from(data) : data]);
}
