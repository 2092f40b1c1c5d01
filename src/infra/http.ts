/**
 * The one place ferry makes HTTP calls. It owns: the keep-alive connection pool, retries with
 * backoff (only where a request can be sent again), redirects (registries serve blobs from CDNs),
 * the refusal of plain HTTP unless the caller says the host is insecure, request counting, and
 * redacted debug events. undici is imported lazily so `ferry --help` never loads it.
 */
import { Readable } from 'node:stream';
import type { Agent } from 'undici';
import { configError, ExitCode, FerryError, tempError, unavailableError } from '../core/errors.js';
import { redact } from './redact.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type BodyInit = Readable | Uint8Array | string;
/**
 * Makes the request body. It is a factory so that a retry can make it again; a body that cannot be
 * made twice (a one-shot stream) must be sent with `retry: false`.
 */
export type BodyFactory = () => BodyInit | Promise<BodyInit>;

export interface HttpRequestOptions {
  method: HttpMethod;
  url: string | URL;
  headers?: Record<string, string>;
  body?: BodyFactory;
  /** Retry transient failures (default true). false: one attempt, failures flagged transient. */
  retry?: boolean;
  /** Follow redirects; default true for GET and HEAD only. */
  followRedirects?: boolean;
  /** Plain http:// is refused unless the caller marks the host insecure. */
  allowInsecure?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** The URL that answered, after redirects. */
  url: URL;
  /** A header value; repeated headers are joined with ", ". */
  header(name: string): string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Readable;
  /** Reads the whole body, refusing more than `limit` bytes (HTTP_BODY_TOO_LARGE). */
  bytes(limit?: number): Promise<Buffer>;
  text(limit?: number): Promise<string>;
  json(limit?: number): Promise<unknown>;
  /** Discards the body so the connection can be reused. */
  dump(): Promise<void>;
}

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A server asking for a longer Retry-After than this is waited this long at most. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 30_000,
};

export interface HttpEvent {
  method: HttpMethod;
  /** Query values that look like credentials (signed CDN URLs) are redacted. */
  url: string;
  attempt: number;
  status?: number;
  error?: string;
  durationMs: number;
  /** Request headers, Authorization redacted. */
  requestHeaders: Record<string, string>;
}

export interface HttpStats {
  requests: number;
  retries: number;
  byMethod: Partial<Record<HttpMethod, number>>;
}

export interface HttpClientOptions {
  retry?: Partial<RetryPolicy>;
  onEvent?: (e: HttpEvent) => void;
  /** Connection timeout (default 30 s). */
  connectTimeoutMs?: number;
  /** Idle time allowed while waiting for headers or body data (default 5 min). */
  idleTimeoutMs?: number;
  maxRedirects?: number;
  /** For tests: how to wait between attempts, and where jitter comes from. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  userAgent?: string;
}

const TRANSIENT_STATUSES = new Set([408, 429]);
/** 5xx is transient except "not implemented" and "version not supported", which will not change. */
export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUSES.has(status) || (status >= 500 && status !== 501 && status !== 505);
}

/** Full jitter exponential backoff: a random delay in [0, min(max, base·2^retry)], never under 10% of it. */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(cap * (0.1 + 0.9 * random()));
}

/** Parses Retry-After (delay-seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** The delay before retry number `retry` (0-based): Retry-After when given (capped), else backoff. */
export function retryDelay(retry: number, policy: RetryPolicy, retryAfterMs?: number, random?: () => number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  return backoffDelay(retry, policy, random);
}

const TRANSIENT_NET_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** All `code`s in an error, its causes and (for happy-eyeballs AggregateErrors) its members. */
export function errorCodes(e: unknown, depth = 0): string[] {
  if (depth > 5 || typeof e !== 'object' || e === null) return [];
  const out: string[] = [];
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') out.push(code);
  const errors = (e as { errors?: unknown }).errors;
  if (Array.isArray(errors)) for (const x of errors) out.push(...errorCodes(x, depth + 1));
  out.push(...errorCodes((e as { cause?: unknown }).cause, depth + 1));
  return out;
}

/** Flags a FerryError as a transient failure that a caller may try again. */
export function isTransientError(e: unknown): boolean {
  return e instanceof FerryError && e.details?.transient === true && e.details.exhausted !== true;
}

function retryAfterOf(e: unknown): number | undefined {
  if (!(e instanceof FerryError)) return undefined;
  const v = e.details?.retryAfterMs;
  return typeof v === 'number' ? v : undefined;
}

const SENSITIVE_QUERY = /sig|signature|token|key|credential|auth|policy|secret|password/i;
/** A URL fit for logs: sensitive query values (signed CDN URLs) replaced. */
export function loggableUrl(url: URL): string {
  const u = new URL(url.toString());
  u.username = '';
  u.password = '';
  for (const k of [...u.searchParams.keys()]) {
    if (SENSITIVE_QUERY.test(k)) u.searchParams.set(k, '***');
  }
  return redact(u.toString());
}

function loggableHeaders(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    out[k] = /^(authorization|proxy-authorization|cookie)$/i.test(k) ? `${v.split(' ')[0] ?? ''} ***` : redact(v);
  }
  return out;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function readLimited(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer | string>) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    n += b.length;
    if (n > limit) {
      body.destroy();
      throw new FerryError('HTTP_BODY_TOO_LARGE', `response body is larger than ${limit} bytes`, {
        exitCode: ExitCode.DATAERR,
        details: { limit },
      });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;

interface Attempt {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { dump(opts?: { limit: number }): Promise<void> };
  url: URL;
}

export class HttpClient {
  readonly stats: HttpStats = { requests: 0, retries: 0, byMethod: {} };
  private readonly policy: RetryPolicy;
  private agent: Agent | undefined;
  private undici: typeof import('undici') | undefined;
  private readonly opts: HttpClientOptions;

  constructor(opts: HttpClientOptions = {}) {
    this.opts = opts;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
  }

  get retryPolicy(): RetryPolicy {
    return this.policy;
  }

  /** Runs `fn` with this client's retry policy: transient FerryErrors are tried again with backoff. */
  async withRetries<T>(what: string, fn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retrying(what, fn, this.policy, {
      sleep: this.opts.sleep ?? defaultSleep,
      random: this.opts.random ?? Math.random,
      onRetry: () => {
        this.stats.retries++;
      },
      ...(signal === undefined ? {} : { signal }),
    });
  }

  async request(req: HttpRequestOptions): Promise<HttpResponse> {
    const retry = req.retry ?? true;
    const policy = retry ? this.policy : { ...this.policy, attempts: 1 };
    const what = `${req.method} ${loggableUrl(new URL(req.url))}`;
    return retrying(what, (attempt) => this.once(req, attempt), policy, {
      sleep: this.opts.sleep ?? defaultSleep,
      random: this.opts.random ?? Math.random,
      onRetry: () => {
        this.stats.retries++;
      },
      ...(req.signal === undefined ? {} : { signal: req.signal }),
    });
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    if (a !== undefined) await a.close();
  }

  private async load(): Promise<{ undici: typeof import('undici'); agent: Agent }> {
    if (this.undici === undefined) {
      // undici is CommonJS: Node gives its exports as named exports, a bundler may give them only
      // as the default export. Accept both.
      const mod = (await import('undici')) as typeof import('undici') & { default?: typeof import('undici') };
      this.undici = mod.default ?? mod;
    }
    this.agent ??= new this.undici.Agent({
      keepAliveTimeout: 30_000,
      connections: 16,
      connect: { timeout: this.opts.connectTimeoutMs ?? 30_000 },
      headersTimeout: this.opts.idleTimeoutMs ?? 300_000,
      bodyTimeout: this.opts.idleTimeoutMs ?? 300_000,
    });
    return { undici: this.undici, agent: this.agent };
  }

  /** One attempt, following redirects. Transient failures throw transient FerryErrors. */
  private async once(req: HttpRequestOptions, attempt: number): Promise<HttpResponse> {
    const follow = req.followRedirects ?? (req.method === 'GET' || req.method === 'HEAD');
    const max = this.opts.maxRedirects ?? 5;
    let url = new URL(req.url);
    const origin0 = url.origin;
    let headers: Record<string, string> = { ...req.headers };
    if (this.opts.userAgent !== undefined && headers['user-agent'] === undefined) headers['user-agent'] = this.opts.userAgent;
    for (let hop = 0; ; hop++) {
      const res = await this.send(req, url, headers, attempt);
      const location = res.headers.location;
      if (follow && [301, 302, 303, 307, 308].includes(res.status) && typeof location === 'string') {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        if (hop >= max) {
          throw unavailableError('HTTP_TOO_MANY_REDIRECTS', `${req.method} ${loggableUrl(url)}: more than ${max} redirects`);
        }
        const next = new URL(location, url);
        if (next.protocol === 'http:' && url.protocol === 'https:') {
          throw unavailableError(
            'HTTP_INSECURE_REDIRECT',
            `${loggableUrl(url)} redirected to plain http (${loggableUrl(next)}); refusing to downgrade`,
          );
        }
        // Credentials for the registry must not travel to a CDN or any other host it sends us to.
        if (next.origin !== origin0) {
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
        }
        url = next;
        continue;
      }
      if (isTransientStatus(res.status)) {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        const retryAfter = res.headers['retry-after'];
        const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
        throw tempError('HTTP_TRANSIENT_FAILURE', `${req.method} ${loggableUrl(url)} answered ${res.status}`, {
          details: {
            transient: true,
            status: res.status,
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          },
        });
      }
      return wrapResponse(res);
    }
  }

  private async send(req: HttpRequestOptions, url: URL, headers: Record<string, string>, attempt: number): Promise<Attempt> {
    if (url.protocol === 'http:' && req.allowInsecure !== true) {
      throw configError('HTTP_INSECURE_REFUSED', `refusing plain http to ${url.host}: it is not marked insecure`, {
        suggestions: [`if ${url.host} really serves plain HTTP, mark it insecure in ferry.yaml: registries: {"${url.host}": {insecure: true}}`],
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw configError('HTTP_BAD_URL', `unsupported URL scheme in ${loggableUrl(url)}`);
    }
    const { undici, agent } = await this.load();
    let body: BodyInit | undefined;
    let bodyError: unknown;
    if (req.body !== undefined) {
      body = await req.body();
      if (body instanceof Readable) {
        // Errors of our own body stream (a file that went away) are not network failures.
        body.once('error', (e) => {
          bodyError ??= e;
        });
      }
    }
    this.stats.requests++;
    this.stats.byMethod[req.method] = (this.stats.byMethod[req.method] ?? 0) + 1;
    const started = Date.now();
    const event = (extra: Partial<HttpEvent>): void => {
      this.opts.onEvent?.({
        method: req.method,
        url: loggableUrl(url),
        attempt,
        durationMs: Date.now() - started,
        requestHeaders: loggableHeaders(headers),
        ...extra,
      });
    };
    try {
      const r = await undici.request(url, {
        method: req.method,
        headers,
        body: body ?? null,
        dispatcher: agent,
        signal: req.signal ?? null,
      });
      event({ status: r.statusCode });
      return { status: r.statusCode, headers: r.headers, body: r.body, url };
    } catch (e) {
      if (body instanceof Readable && !body.destroyed) body.destroy();
      if (bodyError !== undefined && (e === bodyError || errorCodes(e).length === 0)) {
        event({ error: 'request body failed' });
        throw bodyError instanceof Error ? bodyError : new Error('request body failed', { cause: bodyError });
      }
      if (e instanceof FerryError) throw e;
      event({ error: errorCodes(e)[0] ?? (e instanceof Error ? e.name : 'error') });
      throw classifyNetworkError(e, req.method, url);
    }
  }
}

/** Turns an undici / socket failure into a FerryError with a stable code. */
export function classifyNetworkError(e: unknown, method: string, url: URL): FerryError {
  const codes = errorCodes(e);
  const target = `${method} ${loggableUrl(url)}`;
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof Error && e.name === 'AbortError') {
    return new FerryError('HTTP_ABORTED', `${target} was cancelled`, { cause: e, exitCode: ExitCode.TEMPFAIL });
  }
  if (codes.includes('ECONNREFUSED')) {
    return unavailableError('HTTP_CONNECTION_REFUSED', `${url.host} refused the connection (${target})`, {
      cause: e,
      details: { host: url.host },
      suggestions: [`check that the service at ${url.host} is running and the host and port are right`],
    });
  }
  if (codes.includes('ENOTFOUND')) {
    return unavailableError('HTTP_HOST_NOT_FOUND', `host ${url.hostname} was not found (${target})`, {
      cause: e,
      details: { host: url.host },
      suggestions: [`check the spelling of ${url.hostname} and your DNS or network`],
    });
  }
  if (codes.some((c) => c.startsWith('ERR_TLS') || c.startsWith('ERR_SSL') || c === 'EPROTO' || c.includes('CERT'))) {
    return unavailableError('HTTP_TLS_FAILED', `TLS verification failed for ${url.host}: ${msg}`, {
      cause: e,
      details: { host: url.host },
      suggestions: [
        'if the registry uses a private CA, point NODE_EXTRA_CA_CERTS at its certificate',
        `if ${url.host} serves plain HTTP, mark it insecure in ferry.yaml`,
      ],
    });
  }
  if (codes.some((c) => TRANSIENT_NET_CODES.has(c)) || codes.length === 0) {
    return tempError('HTTP_TRANSIENT_FAILURE', `${target} failed: ${codes[0] ?? msg}`, {
      cause: e,
      details: { transient: true, network: codes[0] ?? 'unknown' },
    });
  }
  return unavailableError('HTTP_REQUEST_FAILED', `${target} failed: ${codes[0] ?? msg}`, { cause: e });
}

function wrapResponse(r: Attempt): HttpResponse {
  const header = (name: string): string | undefined => {
    const v = r.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const bytes = (limit = DEFAULT_BODY_LIMIT): Promise<Buffer> => readLimited(r.body, limit);
  return {
    status: r.status,
    url: r.url,
    header,
    headers: r.headers,
    body: r.body,
    bytes,
    text: async (limit) => (await bytes(limit)).toString('utf8'),
    json: async (limit) => JSON.parse((await bytes(limit)).toString('utf8')) as unknown,
    dump: async () => {
      await r.body.dump({ limit: 256 * 1024 }).catch(() => undefined);
    },
  };
}

export interface RetryHooks {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  onRetry?: (attempt: number, delayMs: number, error: FerryError) => void;
  signal?: AbortSignal;
}

/**
 * Runs `fn` until it succeeds, fails with a non-transient error, or the attempts run out; then
 * throws HTTP_RETRIES_EXHAUSTED (75), keeping the last failure as the cause.
 */
export async function retrying<T>(what: string, fn: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isTransientError(e)) throw e;
      const fe = e as FerryError;
      if (attempt >= policy.attempts) {
        if (policy.attempts <= 1) throw fe;
        throw tempError('HTTP_RETRIES_EXHAUSTED', `${what} still failing after ${attempt} attempts: ${fe.message}`, {
          cause: fe,
          details: { ...fe.details, transient: true, exhausted: true, attempts: attempt },
          suggestions: ['the server or network kept failing; try again later'],
        });
      }
      const delay = retryDelay(attempt - 1, policy, retryAfterOf(fe), hooks.random);
      hooks.onRetry?.(attempt, delay, fe);
      await hooks.sleep(delay, hooks.signal);
    }
  }
}
