/**
 * moto, the AWS emulator, as a real server for tests: `moto_server` from a private virtualenv
 * (FERRY_MOTO_VENV, default ~/.cache/ferry-ci/moto-venv; .ci/run creates it, and so does
 * ensureMoto() when it is missing), on 127.0.0.1 and a free port. ferry reaches it only through the
 * AWS SDK's own endpoint variable (AWS_ENDPOINT_URL), with fake credentials, so the code under test
 * is the code users run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { runChecked } from '../../src/infra/process.js';
import { freePort } from './registry.js';
import { pathExists } from '../../src/infra/fs.js';

export const MOTO_VENV = process.env.FERRY_MOTO_VENV ?? path.join(homedir(), '.cache', 'ferry-ci', 'moto-venv');
const MOTO_SERVER = path.join(MOTO_VENV, 'bin', 'moto_server');

export interface Moto {
  /** http://127.0.0.1:PORT */
  url: string;
  /** What a process needs to use this moto through the SDK's default chain, and nothing else. */
  env: Record<string, string | undefined>;
  /** Forget every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}


/** Installs moto[server] into the venv when it is not there yet (idempotent; PyPI must be reachable). */
export async function ensureMoto(): Promise<string> {
  if (await pathExists(MOTO_SERVER)) return MOTO_SERVER;
  await mkdir(path.dirname(MOTO_VENV), { recursive: true });
  // Debian's own python3 first: with python3-venv it makes a venv whose pip works offline of pyenv shims.
  const python = (await pathExists('/usr/bin/python3')) ? '/usr/bin/python3' : 'python3';
  await runChecked(python, ['-m', 'venv', MOTO_VENV], { timeoutMs: 120_000 });
  await runChecked(path.join(MOTO_VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', 'moto[server]'], { timeoutMs: 600_000 });
  return MOTO_SERVER;
}

/** Fake credentials moto accepts; account 123456789012 is moto's default. */
export const MOTO_ACCOUNT = '123456789012';

/** `env`: more environment for moto_server (DOCKER_HOST for its Docker-backed Batch, MOTO_* switches). */
export async function startMoto(opts: { env?: Record<string, string> } = {}): Promise<Moto> {
  const server = await ensureMoto();
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child: ChildProcess = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    const out: string[] = [];
    const keep = (b: Buffer): void => {
      out.push(b.toString('utf8'));
      if (out.length > 2000) out.splice(0, out.length - 2000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const log = (): string => out.join('');
    try {
      await waitReady(url, child, log);
    } catch (e) {
      lastError = e;
      child.kill('SIGKILL');
      continue;
    }
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    };
    return {
      url,
      env: {
        AWS_ENDPOINT_URL: url,
        AWS_ACCESS_KEY_ID: 'AKIAFERRYTESTKEY0001',
        AWS_SECRET_ACCESS_KEY: 'ferry-test-secret-access-key',
        AWS_REGION: 'us-east-1',
        // Nothing from the machine's own AWS setup may leak in, and no instance-metadata probing.
        AWS_PROFILE: undefined,
        AWS_SESSION_TOKEN: undefined,
        AWS_CONFIG_FILE: '/nonexistent/ferry-test-aws-config',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/ferry-test-aws-credentials',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      async reset() {
        const res = await fetch(`${url}/moto-api/reset`, { method: 'POST' });
        await res.arrayBuffer();
      },
      log,
      stop,
    };
  }
  throw lastError instanceof Error ? lastError : new Error('could not start moto_server');
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`${url}/moto-api/data.json`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto_server did not become ready at ${url}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
