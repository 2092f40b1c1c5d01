/** WWW-Authenticate parsing, the credential chain, and token caching. */
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/infra/http.js';
import { redact } from '../../src/infra/redact.js';
import { parseWwwAuthenticate, RegistryAuth, repositoryScope } from '../../src/registry/auth.js';
import { resolveCredentials, runCredentialHelper, type CredentialOptions } from '../../src/registry/credentials.js';
import { caught } from '../helpers/errors.js';


describe('WWW-Authenticate', () => {
  it('parses a Docker Hub bearer challenge', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });

  it('keeps commas inside quoted values and reads error codes', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://r/token",service="s",scope="repository:a/b:pull,push",error="insufficient_scope"');
    expect(c?.params.scope).toBe('repository:a/b:pull,push');
    expect(c?.params.error).toBe('insufficient_scope');
  });

  it('parses basic challenges, several challenges, unquoted values and escapes', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseWwwAuthenticate('Basic realm="a", Bearer realm="https://t/token", service=reg')).toEqual([
      { scheme: 'basic', params: { realm: 'a' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 'reg' } },
    ]);
    expect(parseWwwAuthenticate('BEARER Realm="x\\"y"')).toEqual([{ scheme: 'bearer', params: { realm: 'x"y' } }]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });

  it('builds scopes', () => {
    expect(repositoryScope('team/app', ['pull', 'push'])).toBe('repository:team/app:pull,push');
  });
});

describe('credential chain', () => {
  async function home(config?: unknown, file = join('.docker', 'config.json')): Promise<{ home: string; opts: CredentialOptions }> {
    const h = await mkdtemp(join(tmpdir(), 'ferry-cred-'));
    if (config !== undefined) {
      await mkdir(join(h, file, '..'), { recursive: true });
      await writeFile(join(h, file), typeof config === 'string' ? config : JSON.stringify(config));
    }
    return { home: h, opts: { env: { HOME: h, PATH: process.env.PATH ?? '' }, home: h } };
  }
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  it('is anonymous with nothing configured', async () => {
    const { opts } = await home();
    expect((await resolveCredentials('ghcr.io', opts)).credential).toEqual({ kind: 'anonymous' });
  });

  it('prefers explicit credentials', async () => {
    const { opts } = await home({ auths: { 'ghcr.io': { auth: b64('cfg:cfgpass') } } });
    const r = await resolveCredentials('ghcr.io', { ...opts, explicit: { username: 'u', password: 'flag-password' } });
    expect(r).toEqual({ credential: { kind: 'basic', username: 'u', password: 'flag-password' }, source: 'flags' });
  });

  it('reads auths entries: base64 auth, username/password, identity token, and Docker Hub keys', async () => {
    const { opts } = await home({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hub-password-1') },
        'http://127.0.0.1:5000/v2/': { username: 'local', password: 'local-password' },
        'registry.example.com': { identitytoken: 'refresh-token-xyz' },
      },
    });
    expect((await resolveCredentials('docker.io', opts)).credential).toEqual({ kind: 'basic', username: 'hubuser', password: 'hub-password-1' });
    expect((await resolveCredentials('127.0.0.1:5000', opts)).credential).toEqual({ kind: 'basic', username: 'local', password: 'local-password' });
    expect((await resolveCredentials('registry.example.com', opts)).credential).toEqual({ kind: 'identity-token', token: 'refresh-token-xyz' });
    expect((await resolveCredentials('other.example.com', opts)).credential.kind).toBe('anonymous');
    // what was learnt is redacted from any output from now on
    expect(redact('password is hub-password-1')).toBe('password is ***');
  });

  it('honours DOCKER_CONFIG, REGISTRY_AUTH_FILE first, and containers auth.json last', async () => {
    const { home: h, opts } = await home({ auths: { 'ghcr.io': { auth: b64('docker:docker-pass') } } }, join('custom', 'config.json'));
    const env = { ...opts.env, DOCKER_CONFIG: join(h, 'custom') };
    expect((await resolveCredentials('ghcr.io', { ...opts, env })).source).toContain('docker config');
    const authFile = join(h, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { 'ghcr.io': { auth: b64('podman:podman-pass') } } }));
    const r = await resolveCredentials('ghcr.io', { ...opts, env: { ...env, REGISTRY_AUTH_FILE: authFile } });
    expect(r.credential).toEqual({ kind: 'basic', username: 'podman', password: 'podman-pass' });
    const { opts: o2 } = await home({ auths: { 'quay.io': { auth: b64('c:containers-pass') } } }, join('.config', 'containers', 'auth.json'));
    expect((await resolveCredentials('quay.io', o2)).source).toContain('containers auth.json');
  });

  it('asks credential helpers with docker server URLs; <token> means an identity token', async () => {
    const asked: string[] = [];
    const { opts } = await home({ credHelpers: { 'ghcr.io': 'gh' }, credsStore: 'store', auths: { 'quay.io': { auth: b64('q:quay-pass') } } });
    const runHelper: CredentialOptions['runHelper'] = (helper, server) => {
      asked.push(`${helper} ${server}`);
      if (helper === 'gh') return Promise.resolve({ username: 'ghuser', secret: 'gh-secret-1' });
      if (server === 'https://index.docker.io/v1/') return Promise.resolve({ username: '<token>', secret: 'hub-identity' });
      return Promise.resolve(undefined);
    };
    expect((await resolveCredentials('ghcr.io', { ...opts, runHelper })).credential).toEqual({ kind: 'basic', username: 'ghuser', password: 'gh-secret-1' });
    expect((await resolveCredentials('docker.io', { ...opts, runHelper })).credential).toEqual({ kind: 'identity-token', token: 'hub-identity' });
    // the store has nothing for quay.io: the auths entry is used
    expect((await resolveCredentials('quay.io', { ...opts, runHelper })).credential).toEqual({ kind: 'basic', username: 'q', password: 'quay-pass' });
    expect(asked).toEqual(['gh ghcr.io', 'store https://index.docker.io/v1/', 'store quay.io']);
  });

  it('refuses a broken config with a configuration error (78)', async () => {
    const { opts } = await home('{not json');
    const err = await caught(resolveCredentials('ghcr.io', opts));
    expect(err.code).toBe('REGISTRY_CONFIG_INVALID');
    expect(err.exitCode).toBe(78);
    const { opts: o2 } = await home({ auths: { 'ghcr.io': { auth: b64('no-colon') } } });
    expect((await caught(resolveCredentials('ghcr.io', o2))).code).toBe('REGISTRY_CONFIG_INVALID');
  });

  it('runs real helper programs: missing (69), failing (77), not found (undefined), found', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'ferry-helpers-'));
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    await writeFile(join(bin, 'docker-credential-broken'), '#!/bin/sh\necho "boom secret-ish" >&2\nexit 3\n');
    await writeFile(join(bin, 'docker-credential-empty'), '#!/bin/sh\necho "credentials not found in native keychain"\nexit 1\n');
    await writeFile(join(bin, 'docker-credential-ok'), '#!/bin/sh\nread s\nprintf \'{"ServerURL":"%s","Username":"me","Secret":"helper-secret-9"}\' "$s"\n');
    for (const f of ['broken', 'empty', 'ok']) await chmod(join(bin, `docker-credential-${f}`), 0o755);
    const missing = await caught(runCredentialHelper('nope', 'ghcr.io', env));
    expect(missing.code).toBe('REGISTRY_CREDENTIAL_HELPER_MISSING');
    expect(missing.exitCode).toBe(69);
    const broken = await caught(runCredentialHelper('broken', 'ghcr.io', env));
    expect(broken.code).toBe('REGISTRY_CREDENTIAL_HELPER_FAILED');
    expect(broken.exitCode).toBe(77);
    expect(await runCredentialHelper('empty', 'ghcr.io', env)).toBeUndefined();
    expect(await runCredentialHelper('ok', 'ghcr.io', env)).toEqual({ username: 'me', secret: 'helper-secret-9' });
    expect(redact('x helper-secret-9 y')).toBe('x *** y');
  });
});

describe('token cache', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((r) => {
      s.close(() => {
        r();
      });
    });
  });

  it('reuses a token for its lifetime (60 s when the server gives none), per scope set', async () => {
    let tokens = 0;
    server = createServer((req, res) => {
      if (req.url?.startsWith('/token') === true) {
        tokens++;
        res.end(JSON.stringify({ token: `tok-${tokens}-abcdefgh` }));
        return;
      }
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${(server?.address() as AddressInfo).port}/token",service="svc"` });
      res.end();
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => {
      r();
    }));
    const port = (server.address() as AddressInfo).port;
    let now = 1_000_000;
    const http = new HttpClient();
    const auth = new RegistryAuth({
      baseUrl: new URL(`http://127.0.0.1:${port}/`),
      registry: `127.0.0.1:${port}`,
      insecure: true,
      http,
      credentials: () => Promise.resolve({ credential: { kind: 'anonymous' }, source: 'anonymous' }),
      now: () => now,
    });
    try {
      const a = ['repository:x/y:pull'];
      expect(await auth.header(a)).toBe('Bearer tok-1-abcdefgh');
      expect(await auth.header(a)).toBe('Bearer tok-1-abcdefgh');
      expect(await auth.header(['repository:x/y:pull,push'])).toBe('Bearer tok-2-abcdefgh');
      now += 50_000;
      expect(await auth.header(a)).toBe('Bearer tok-1-abcdefgh');
      now += 11_000;
      expect(await auth.header(a)).toBe('Bearer tok-3-abcdefgh');
      expect(auth.tokenRequests).toBe(3);
    } finally {
      await http.close();
    }
  });
});
