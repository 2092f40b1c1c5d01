/**
 * A small token server for the Docker token flow, in front of a real `docker-registry` configured
 * with `auth.token`. It checks basic credentials (or an OAuth2 refresh token) and answers JWTs signed
 * RS256 with a key whose self-signed certificate is the registry's `rootcertbundle`; the certificate
 * goes in the JWT's `x5c` header, which distribution 2.8 verifies against that bundle.
 */
import { createSign, randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecked } from '../../src/infra/process.js';

export interface TokenServerOptions {
  service: string;
  issuer: string;
  /** username → password */
  users: Record<string, string>;
  /** OAuth2 refresh tokens ("identity tokens") → username */
  refreshTokens?: Record<string, string>;
  /** What anonymous callers may do (default: nothing). */
  anonymousActions?: string[];
  /** Users who may only pull. */
  readOnlyUsers?: string[];
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

export interface TokenServer {
  realm: string;
  certPath: string;
  /** Token requests seen, for assertions. */
  requests: { account: string | undefined; scopes: string[]; ok: boolean; method: string }[];
  /** The next `n` tokens get a broken signature, so the registry refuses them (tests refresh on 401). */
  spoilNext(n: number): void;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Generates an RSA key and a self-signed certificate with openssl (independent of ferry's code). */
async function makeKeyAndCert(dir: string): Promise<{ keyPem: string; certPem: string; certPath: string; certDerB64: string }> {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  await runChecked('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath,
    '-days', '2', '-subj', '/CN=ferry-test-token-issuer',
  ], { timeoutMs: 60_000 });
  const keyPem = await readFile(keyPath, 'utf8');
  const certPem = await readFile(certPath, 'utf8');
  const certDerB64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return { keyPem, certPem, certPath, certDerB64 };
}

interface ScopeRequest {
  type: string;
  name: string;
  actions: string[];
}

function parseScope(s: string): ScopeRequest | undefined {
  // repository:name:actions — the name may contain a port-less path; actions are after the last colon
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first === -1 || last === first) return undefined;
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter((a) => a !== '') };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-token-'));
  const { keyPem, certPath, certDerB64 } = await makeKeyAndCert(dir);
  const requests: TokenServer['requests'] = [];
  let spoil = 0;

  const sign = (account: string | undefined, access: ScopeRequest[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDerB64] };
    const claims = {
      iss: opts.issuer,
      sub: account ?? '',
      aud: opts.service,
      exp: now + (opts.expiresIn ?? 300),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access: access.map((a) => ({ type: a.type, name: a.name, actions: a.actions })),
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(keyPem);
    if (spoil > 0) {
      spoil--;
      sig[0] = (sig[0] ?? 0) ^ 0xff;
    }
    return `${input}.${b64url(sig)}`;
  };

  const grant = (account: string | undefined, scopes: string[]): ScopeRequest[] => {
    const out: ScopeRequest[] = [];
    for (const s of scopes) {
      const p = parseScope(s);
      if (p === undefined) continue;
      let allowed: string[];
      if (account === undefined) allowed = opts.anonymousActions ?? [];
      else if (opts.readOnlyUsers?.includes(account) === true) allowed = ['pull'];
      else allowed = ['pull', 'push', 'delete', '*'];
      const actions = p.actions.filter((a) => allowed.includes(a));
      if (actions.length > 0) out.push({ ...p, actions });
    }
    return out;
  };

  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/token') {
      reply(res, 404, { error: 'not found' });
      return;
    }
    let account: string | undefined;
    let scopes: string[] = url.searchParams.getAll('scope');
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
      const grantType = form.get('grant_type');
      if (grantType === 'refresh_token') {
        account = opts.refreshTokens?.[form.get('refresh_token') ?? ''];
      } else if (grantType === 'password') {
        const u = form.get('username') ?? '';
        if (opts.users[u] !== undefined && opts.users[u] === form.get('password')) account = u;
      }
      if (account === undefined) {
        requests.push({ account: undefined, scopes, ok: false, method: 'POST' });
        reply(res, 401, { error: 'invalid_grant' });
        return;
      }
      requests.push({ account, scopes, ok: true, method: 'POST' });
      reply(res, 200, { access_token: sign(account, grant(account, scopes)), expires_in: opts.expiresIn ?? 300, scope: scopes.join(' ') });
      return;
    }
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Basic\s+(.+)$/i.exec(auth);
      const decoded = m?.[1] === undefined ? '' : Buffer.from(m[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = decoded.slice(0, colon);
      const pass = decoded.slice(colon + 1);
      if (colon <= 0 || opts.users[user] === undefined || opts.users[user] !== pass) {
        requests.push({ account: user, scopes, ok: false, method: 'GET' });
        reply(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
        return;
      }
      account = user;
    }
    requests.push({ account, scopes, ok: true, method: 'GET' });
    const token = sign(account, grant(account, scopes));
    // Docker Hub answers both fields; answer both so either reading works.
    reply(res, 200, { token, access_token: token, expires_in: opts.expiresIn ?? 300, issued_at: new Date().toISOString() });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, { error: 'token server failed' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certPath,
    requests,
    spoilNext: (k: number) => {
      spoil = k;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => { resolve(); });
      }),
  };
}
