/**
 * A real registry for tests: Debian's `docker-registry` (the CNCF distribution server, 2.8) on a
 * free loopback port with its own temporary storage, in one of three modes:
 *   - open: no authentication;
 *   - htpasswd: basic auth against an htpasswd file made with `htpasswd -B`;
 *   - token: the Docker token flow, with a token server from ./token-server.ts.
 * Start one per test file (in beforeAll) and stop it in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecked } from '../../src/infra/process.js';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.js';

export type RegistryAuthMode = 'open' | 'htpasswd' | 'token';

export interface TestRegistry {
  mode: RegistryAuthMode;
  /** host:port, as in image references: 127.0.0.1:PORT */
  host: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Where blobs and manifests live on disk (to corrupt them in tests). */
  storageDir: string;
  /** Credentials accepted in htpasswd and token modes. */
  username: string;
  password: string;
  /** A user that may only pull (token mode). */
  readOnlyUser: { username: string; password: string };
  /** Refresh token accepted by the token server (token mode), as a docker identitytoken. */
  identityToken: string;
  tokenServer?: TokenServer;
  /** The registry's own log (stdout+stderr), for debugging a failing test. */
  log(): string;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  mode?: RegistryAuthMode;
  /** Token mode: what anonymous clients may do (default none). */
  anonymousActions?: string[];
  /** Token mode: token lifetime in seconds. */
  tokenExpiresIn?: number;
  /** htpasswd mode: more users, name → password (an ECR token's AWS:<password>, say). */
  extraUsers?: Record<string, string>;
  /**
   * Keep blobs and manifests here instead of a temp dir, across test runs (the Spark tests' ~1 GB
   * driver base image is pushed once, not on every run). It is not removed by stop().
   */
  storageDir?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => { resolve(port); });
    });
  });
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not become ready at ${url}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const mode = opts.mode ?? 'open';
  const dir = await mkdtemp(join(tmpdir(), 'ferry-registry-'));
  const storageDir = opts.storageDir ?? join(dir, 'storage');
  const username = 'ferry-user';
  const password = 'ferry-secret-pw-1';
  const readOnlyUser = { username: 'reader', password: 'reader-secret-pw' };
  const identityToken = 'ferry-refresh-token-0123456789';
  let tokenServer: TokenServer | undefined;
  let authYaml = '';
  if (mode === 'htpasswd') {
    const file = join(dir, 'htpasswd');
    await runChecked('htpasswd', ['-Bbc', file, username, password]);
    await runChecked('htpasswd', ['-Bb', file, readOnlyUser.username, readOnlyUser.password]);
    for (const [user, pw] of Object.entries(opts.extraUsers ?? {})) await runChecked('htpasswd', ['-Bb', file, user, pw]);
    authYaml = `auth:\n  htpasswd:\n    realm: ferry-test\n    path: ${file}\n`;
  } else if (mode === 'token') {
    const tsOpts: TokenServerOptions = {
      service: 'ferry-test-registry',
      issuer: 'ferry-test-issuer',
      users: { [username]: password, [readOnlyUser.username]: readOnlyUser.password },
      readOnlyUsers: [readOnlyUser.username],
      refreshTokens: { [identityToken]: username },
      ...(opts.anonymousActions === undefined ? {} : { anonymousActions: opts.anonymousActions }),
      ...(opts.tokenExpiresIn === undefined ? {} : { expiresIn: opts.tokenExpiresIn }),
    };
    tokenServer = await startTokenServer(tsOpts);
    authYaml =
      `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: ${tsOpts.service}\n` +
      `    issuer: ${tsOpts.issuer}\n    rootcertbundle: ${tokenServer.certPath}\n`;
  }

  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `http://${host}`;
    const config = join(dir, 'config.yml');
    await writeFile(
      config,
      `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n` +
        `storage:\n  filesystem:\n    rootdirectory: ${storageDir}\n  delete:\n    enabled: true\n` +
        `http:\n  addr: ${host}\n  secret: ferry-test-secret\n` +
        authYaml,
    );
    const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    const keep = (b: Buffer): void => {
      out.push(b.toString('utf8'));
      if (out.length > 2000) out.splice(0, out.length - 2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const log = (): string => out.join('');
    try {
      await waitReady(url, child, log);
    } catch (e) {
      lastError = e;
      child.kill('SIGKILL');
      continue;
    }
    const stop = async (): Promise<void> => {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await tokenServer?.stop();
      await rm(dir, { recursive: true, force: true });
    };
    return {
      mode,
      host,
      url,
      storageDir,
      username,
      password,
      readOnlyUser,
      identityToken,
      ...(tokenServer === undefined ? {} : { tokenServer }),
      log,
      stop,
    };
  }
  await tokenServer?.stop();
  throw lastError instanceof Error ? lastError : new Error('could not start docker-registry');
}

/** skopeo arguments for credentials of this registry (none in open mode). */
export function skopeoCreds(reg: TestRegistry, flag: '--creds' | '--src-creds' | '--dest-creds' = '--creds'): string[] {
  return reg.mode === 'open' ? [] : [flag, `${reg.username}:${reg.password}`];
}
