/**
 * Registry authentication: the challenge a registry sends (`WWW-Authenticate`), the Docker token
 * flow (https://distribution.github.io/distribution/spec/auth/token/), basic auth, and anonymous
 * access. Tokens are cached per scope set for their lifetime and fetched again on a 401.
 */
import { authError, type FerryError } from '../core/errors.js';
import type { HttpClient, HttpResponse } from '../infra/http.js';
import { registerSecret } from '../infra/redact.js';
import { ANONYMOUS, type Credential, type ResolvedCredential } from './credentials.js';

export interface Challenge {
  /** Lowercased: "bearer", "basic". */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate value (RFC 9110 §11.6.1): one or more challenges, each a scheme and
 * comma-separated parameters whose values may be quoted strings with commas inside (scopes are).
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i] ?? '')) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipWs();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = token();
    if (word === '') {
      i++;
      continue;
    }
    skipWs();
    if (header[i] === '=' && current !== undefined) {
      // a parameter of the current challenge (a lone token68 value is ignored: registries use params)
      i++;
      skipWs();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i] ?? '';
          i++;
        }
        i++;
      } else {
        const vs = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(vs, i);
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (header[i] === '=' && current === undefined) {
      // malformed: a parameter before any scheme
      i = start + word.length + 1;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
    // token68 form ("Basic abc=="): skip it
    if (header[i] !== undefined && header[i] !== ',' && !/[A-Za-z0-9!#$%&'*+\-.^_`|~]+\s*=/.test(header.slice(i, i + 64))) {
      while (i < n && header[i] !== ',') i++;
    }
  }
  return out;
}

/** `repository:team/app:pull,push` */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface RegistryAuthOptions {
  /** The registry's API base: https://host/ (or http:// when insecure). */
  baseUrl: URL;
  /** The registry as in references, for messages and suggestions. */
  registry: string;
  insecure: boolean;
  http: HttpClient;
  credentials: () => Promise<ResolvedCredential>;
  now?: () => number;
  /** The client_id sent with OAuth2 requests. */
  clientId?: string;
}

/** Default token lifetime when the server gives none, per the token spec. */
export const DEFAULT_TOKEN_SECONDS = 60;

type AuthMode = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; realm: URL; service: string | undefined };

/**
 * The authentication state of one registry. Learns the scheme by asking `/v2/` once, then attaches
 * credentials or tokens to requests.
 */
export class RegistryAuth {
  private mode: Promise<AuthMode> | undefined;
  private resolved: Promise<ResolvedCredential> | undefined;
  /** What `resolved` resolved to, once it has. */
  private current: ResolvedCredential | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private readonly now: () => number;
  /** Token endpoint calls, for stats. */
  tokenRequests = 0;

  constructor(private readonly opts: RegistryAuthOptions) {
    this.now = opts.now ?? Date.now;
  }

  credential(): Promise<ResolvedCredential> {
    // Expiring credentials (ECR tokens) are looked up again once due; their source caches them.
    if (this.current?.renewal !== undefined && this.now() >= this.current.renewal.renewAt) this.forget(this.current);
    this.resolved ??= this.opts.credentials().then(
      (c) => {
        this.current = c;
        return c;
      },
      (e: unknown) => {
        this.resolved = undefined;
        throw e;
      },
    );
    return this.resolved;
  }

  private forget(c: ResolvedCredential): void {
    if (this.current !== c) return;
    this.current = undefined;
    this.resolved = undefined;
  }

  /**
   * A 401 to a request sent with `sent` under basic auth, with renewable credentials: drop them
   * (their source fetches new ones) and answer true, so the request is tried once more. When
   * another request already renewed them, the next try simply uses the new ones.
   */
  private renew(sent: string | undefined): boolean {
    const c = this.current;
    if (c?.renewal === undefined) return false;
    if (sent === undefined || sent === basicHeader(c.credential)) {
      c.renewal.invalidate();
      this.forget(c);
    }
    return true;
  }

  /** The Authorization header for a request needing `scopes`, or undefined for none. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const mode = await this.learn();
    if (mode.kind === 'none') return undefined;
    const { credential } = await this.credential();
    if (mode.kind === 'basic') return basicHeader(credential);
    if (credential.kind === 'bearer') return `Bearer ${credential.token}`;
    const t = await this.token(mode, scopes);
    return t === '' ? undefined : `Bearer ${t}`;
  }

  /**
   * Called with a 401 from the registry. Updates what we know from its challenge and forgets the
   * token that failed. Returns true when trying again may help (i.e. we did not already have a
   * fresh token for exactly these scopes, or the scheme changed).
   */
  async unauthorized(res: HttpResponse, scopes: readonly string[], sent?: string): Promise<boolean> {
    const challenge = pickChallenge(res.header('www-authenticate'));
    const before = await this.learn();
    this.tokens.delete(scopeKey(scopes));
    const mode = challenge === undefined ? undefined : modeFrom(challenge, this.opts.baseUrl);
    if (mode !== undefined && mode.kind !== before.kind) {
      this.mode = Promise.resolve(mode);
      return true;
    }
    // ECR: its token expired (or was revoked) mid-push; a fresh GetAuthorizationToken may help.
    if (before.kind === 'basic' && this.renew(sent)) return true;
    return mode?.kind === 'bearer';
  }

  /** The error for a request still refused after authenticating. */
  async refused(res: HttpResponse, what: string): Promise<FerryError> {
    const challenge = pickChallenge(res.header('www-authenticate'));
    const { credential, source } = await this.credential();
    const anonymous = credential.kind === 'anonymous';
    const reg = this.opts.registry;
    if (res.status === 403 || (!anonymous && challenge?.params.error === 'insufficient_scope')) {
      return authError('REGISTRY_DENIED', `${reg} denied ${what}${anonymous ? '' : ` (as authenticated with ${source})`}`, {
        details: { registry: reg, status: res.status },
        suggestions: [
          'check that the repository exists and that your account may push to (or pull from) it',
          ...(anonymous ? [`log in: \`docker login ${reg}\`, or pass --username and --password-stdin`] : []),
        ],
      });
    }
    return authError(
      'REGISTRY_AUTH_FAILED',
      anonymous ? `${reg} requires authentication for ${what}` : `${reg} rejected the credentials from ${source} for ${what}`,
      {
        details: { registry: reg, status: res.status, anonymous },
        suggestions: [`log in with \`docker login ${reg}\`, or pass --username and --password-stdin`],
      },
    );
  }

  private learn(): Promise<AuthMode> {
    this.mode ??= this.ping().catch((e: unknown) => {
      this.mode = undefined;
      throw e;
    });
    return this.mode;
  }

  /** GET /v2/ tells whether and how this registry authenticates, before we send any body. */
  private async ping(): Promise<AuthMode> {
    const res = await this.opts.http.request({
      method: 'GET',
      url: new URL('/v2/', this.opts.baseUrl),
      allowInsecure: this.opts.insecure,
    });
    await res.dump();
    if (res.status === 401) {
      const c = pickChallenge(res.header('www-authenticate'));
      if (c !== undefined) return modeFrom(c, this.opts.baseUrl);
      return { kind: 'basic' };
    }
    return { kind: 'none' };
  }

  private async token(mode: Extract<AuthMode, { kind: 'bearer' }>, scopes: readonly string[]): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.now()) return cached.token;
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.fetchToken(mode, scopes).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    const t = await p;
    this.tokens.set(key, t);
    return t.token;
  }

  private async fetchToken(mode: Extract<AuthMode, { kind: 'bearer' }>, scopes: readonly string[]): Promise<CachedToken> {
    const { credential, source } = await this.credential();
    const realm = mode.realm;
    if (realm.protocol === 'http:' && !this.opts.insecure) {
      throw authError('REGISTRY_AUTH_FAILED', `${this.opts.registry} sent a plain-http token realm (${realm.origin}); refusing to send credentials there`, {
        suggestions: ['mark the registry insecure in ferry.yaml if this is a test registry'],
      });
    }
    this.tokenRequests++;
    const started = this.now();
    let res: HttpResponse;
    if (credential.kind === 'identity-token') {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.token,
        client_id: this.opts.clientId ?? 'ferry',
        ...(mode.service === undefined ? {} : { service: mode.service }),
        ...(scopes.length === 0 ? {} : { scope: scopes.join(' ') }),
      }).toString();
      res = await this.opts.http.request({
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: () => form,
        allowInsecure: this.opts.insecure,
      });
    } else {
      const url = new URL(realm);
      if (mode.service !== undefined) url.searchParams.set('service', mode.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (credential.kind === 'basic') url.searchParams.set('account', credential.username);
      const headers: Record<string, string> = {};
      const basic = basicHeader(credential);
      if (basic !== undefined) headers.authorization = basic;
      res = await this.opts.http.request({ method: 'GET', url, headers, allowInsecure: this.opts.insecure });
    }
    if (res.status === 401 || res.status === 403) {
      await res.dump();
      throw authError(
        'REGISTRY_AUTH_FAILED',
        credential.kind === 'anonymous'
          ? `${this.opts.registry} refused an anonymous token`
          : `${this.opts.registry} rejected the credentials from ${source}`,
        {
          details: { registry: this.opts.registry, status: res.status },
          suggestions: [`log in with \`docker login ${this.opts.registry}\`, or pass --username and --password-stdin`],
        },
      );
    }
    if (res.status !== 200) {
      await res.dump();
      throw authError('REGISTRY_AUTH_FAILED', `token endpoint of ${this.opts.registry} answered ${res.status}`, {
        details: { registry: this.opts.registry, status: res.status },
      });
    }
    const body = (await res.json(1024 * 1024)) as { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (token === '') {
      throw authError('REGISTRY_AUTH_FAILED', `token endpoint of ${this.opts.registry} gave no token`, {
        details: { registry: this.opts.registry },
      });
    }
    registerSecret(token);
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    // Renew a little early so a token does not expire between being attached and being checked.
    const margin = Math.min(10, seconds / 10) * 1000;
    return { token, expiresAt: started + seconds * 1000 - margin };
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

function basicHeader(c: Credential): string | undefined {
  if (c.kind !== 'basic') return undefined;
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

function pickChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  const all = parseWwwAuthenticate(header);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

function modeFrom(c: Challenge, base: URL): AuthMode {
  if (c.scheme === 'bearer' && c.params.realm !== undefined && c.params.realm !== '') {
    return { kind: 'bearer', realm: new URL(c.params.realm, base), service: c.params.service };
  }
  return { kind: 'basic' };
}

export { ANONYMOUS };
