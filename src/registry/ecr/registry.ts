/**
 * One ECR registry for the length of a command: its authorization token (fetched with the AWS SDK
 * once, kept until shortly before it expires, fetched again when the registry refuses it) and the
 * creation of repositories before a push. The SDK itself is behind ./client.ts, loaded on first use.
 */
import { FerryError, unavailableError } from '../../core/errors.js';
import { registerSecret } from '../../infra/redact.js';
import type { ResolvedCredential } from '../credentials.js';
import type { EcrApi, EcrToken, RepositoryOptions } from './client.js';
import type { EcrHost } from './hosts.js';

/** ECR tokens last 12 hours; renew this long before the end, so a push never starts on a dying token. */
export const RENEW_BEFORE_MS = 5 * 60_000;
/**
 * When the answer has no expiry, or one already past by our clock (a skewed clock, or an emulator:
 * moto always answers 2015-01-01), keep the token this long. A token that is refused earlier is
 * fetched again anyway (on the registry's 401), so a wrong guess costs one request, not a failure.
 */
export const FALLBACK_LIFETIME_MS = 15 * 60_000;

export interface CachedEcrToken {
  username: string;
  password: string;
  /** The token as AWS gave it (base64 of username:password). */
  token: string;
  /** When to fetch a new one (ms since epoch). */
  renewAt: number;
}

/** Caches one token; concurrent callers share one fetch. The clock is injectable for tests. */
export class EcrTokenCache {
  private current: CachedEcrToken | undefined;
  private pending: Promise<CachedEcrToken> | undefined;
  /** GetAuthorizationToken calls made, for tests and --debug. */
  fetches = 0;

  constructor(
    private readonly fetch: () => Promise<EcrToken>,
    private readonly now: () => number = Date.now,
  ) {}

  async get(): Promise<CachedEcrToken> {
    const c = this.current;
    if (c !== undefined && this.now() < c.renewAt) return c;
    this.pending ??= this.load().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** The registry refused `entry`: forget it (unless a newer one already replaced it). */
  invalidate(entry: CachedEcrToken): void {
    if (this.current === entry) this.current = undefined;
  }

  private async load(): Promise<CachedEcrToken> {
    const started = this.now();
    this.fetches++;
    const t = await this.fetch();
    const decoded = Buffer.from(t.token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw unavailableError('ECR_REQUEST_FAILED', 'GetAuthorizationToken answered a token that is not base64 of "user:password"');
    }
    const entry: CachedEcrToken = {
      username: decoded.slice(0, colon),
      password: decoded.slice(colon + 1),
      token: t.token,
      renewAt: renewAt(started, t.expiresAt),
    };
    registerSecret(entry.password);
    registerSecret(entry.token);
    this.current = entry;
    return entry;
  }
}

/** When to renew a token fetched at `started` that AWS says expires at `expiresAt`. */
export function renewAt(started: number, expiresAt: number | undefined): number {
  if (expiresAt === undefined || expiresAt <= started) return started + FALLBACK_LIFETIME_MS;
  const life = expiresAt - started;
  // Short-lived tokens (not ECR's usual 12 h): renew at half their life instead.
  return expiresAt - Math.min(RENEW_BEFORE_MS, life / 2);
}

export interface EcrRegistryOptions extends RepositoryOptions {
  createRepository: boolean;
  /** The ECR API; default: the AWS SDK client (loaded on first use). */
  api?: () => Promise<EcrApi>;
  now?: () => number;
  debug?: (line: string) => void;
}

export class EcrRegistry {
  readonly tokens: EcrTokenCache;
  private apiPromise: Promise<EcrApi> | undefined;
  private readonly ensured = new Map<string, Promise<'exists' | 'created'>>();

  constructor(
    readonly host: EcrHost,
    private readonly opts: EcrRegistryOptions,
  ) {
    this.tokens = new EcrTokenCache(async () => {
      const api = await this.api();
      const t = await api.getAuthorizationToken();
      this.opts.debug?.(`ECR: fetched an authorization token for ${host.host}${t.expiresAt === undefined ? '' : ` (expires ${new Date(t.expiresAt).toISOString()})`}`);
      return t;
    }, opts.now);
  }

  /** The registry credential from GetAuthorizationToken, renewable (see RegistryAuth.unauthorized). */
  async credential(): Promise<ResolvedCredential> {
    const entry = await this.tokens.get();
    return {
      credential: { kind: 'basic', username: entry.username, password: entry.password },
      source: `Amazon ECR GetAuthorizationToken (${this.host.region})`,
      renewal: { renewAt: entry.renewAt, invalidate: () => { this.tokens.invalidate(entry); } },
    };
  }

  /** Creates `repository` when it is missing (once per command), if the settings ask for it. */
  async ensureRepository(repository: string): Promise<'exists' | 'created' | 'skipped'> {
    if (!this.opts.createRepository) return 'skipped';
    let p = this.ensured.get(repository);
    if (p === undefined) {
      p = this.api().then((api) => api.ensureRepository(repository, { tagImmutability: this.opts.tagImmutability, scanOnPush: this.opts.scanOnPush }));
      p.catch(() => {
        this.ensured.delete(repository);
      });
      this.ensured.set(repository, p);
    }
    const r = await p;
    if (r === 'created') this.opts.debug?.(`ECR: created repository ${repository} in ${this.host.host}`);
    return r;
  }

  private api(): Promise<EcrApi> {
    this.apiPromise ??= (this.opts.api ?? (async () => (await import('./client.js')).createEcrApi(this.host)))().catch((e: unknown) => {
      this.apiPromise = undefined;
      throw e instanceof FerryError ? e : unavailableError('ECR_REQUEST_FAILED', `cannot load the AWS SDK: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    });
    return this.apiPromise;
  }
}
