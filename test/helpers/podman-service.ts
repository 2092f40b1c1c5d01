/**
 * A real Docker Engine API for tests: `podman system service --time=0 unix://<tmp>/podman.sock`,
 * with the containers.conf of ./podman.ts. It shares podman's storage with the podman CLI, so a
 * test can check through `podman ps -a` what ferry did through the API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { podmanEnv } from './podman.js';

export interface PodmanService {
  socket: string;
  /** DOCKER_HOST value: unix://<socket>. */
  dockerHost: string;
  log(): string;
  stop(): Promise<void>;
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/v1.41/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}

/** `env`: more environment for the service (a registries.conf, as a daemon's own configuration). */
export async function startPodmanService(opts: { env?: Record<string, string> } = {}): Promise<PodmanService> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-podman-svc-'));
  const socket = path.join(dir, 'podman.sock');
  let output = '';
  const child: ChildProcess = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { env: { ...(await podmanEnv()), ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`podman system service exited with ${child.exitCode}:\n${output}`);
    if (await ping(socket)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`podman system service did not answer on ${socket}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket,
    dockerHost: `unix://${socket}`,
    log: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => {
          resolve();
        });
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
