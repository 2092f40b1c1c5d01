import { createServer, type Server } from 'node:net';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DockerClient, demultiplex, muxFrame, readJsonMessages } from '../../src/engines/docker/client.js';
import { contextDirName, discoverDockerEndpoint, parseDockerHost } from '../../src/engines/docker/endpoint.js';
import { caught } from '../helpers/errors.js';

async function tempHome(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'ferry-docker-home-'));
}

async function writeContext(home: string, name: string, meta: unknown, tls?: Record<string, string>): Promise<void> {
  const id = contextDirName(name);
  const dir = path.join(home, '.docker', 'contexts', 'meta', id);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'meta.json'), JSON.stringify(meta));
  if (tls !== undefined) {
    const tdir = path.join(home, '.docker', 'contexts', 'tls', id, 'docker');
    await mkdir(tdir, { recursive: true });
    for (const [f, v] of Object.entries(tls)) await writeFile(path.join(tdir, f), v);
  }
}

describe('Docker Engine API endpoint discovery', () => {
  it('takes DOCKER_HOST first', async () => {
    const home = await tempHome();
    const d = await discoverDockerEndpoint({ HOME: home, DOCKER_HOST: 'unix:///tmp/x.sock', DOCKER_CONTEXT: 'ignored' });
    expect(d.endpoint).toEqual({ kind: 'unix', socketPath: '/tmp/x.sock', source: 'DOCKER_HOST' });
    expect(d.tried).toEqual(['DOCKER_HOST=unix:///tmp/x.sock']);
    const tcp = await discoverDockerEndpoint({ HOME: home, DOCKER_HOST: 'tcp://10.0.0.5' });
    expect(tcp.endpoint).toMatchObject({ kind: 'tcp', host: '10.0.0.5', port: 2375, tls: undefined });
    expect((await discoverDockerEndpoint({ HOME: home, DOCKER_HOST: '10.0.0.5:4243' })).endpoint).toMatchObject({ kind: 'tcp', port: 4243 });
  });

  it('falls back to the default socket, saying what it looked at', async () => {
    const home = await tempHome();
    const d = await discoverDockerEndpoint({ HOME: home });
    expect(d.endpoint).toEqual({ kind: 'unix', socketPath: '/var/run/docker.sock', source: 'default socket' });
    expect(d.tried.join('\n')).toMatch(/DOCKER_HOST \(not set\)[\s\S]*DOCKER_CONTEXT \(not set\)[\s\S]*currentContext[\s\S]*\/var\/run\/docker\.sock/);
  });

  it('reads the current context from config.json, and DOCKER_CONTEXT over it', async () => {
    const home = await tempHome();
    await mkdir(path.join(home, '.docker'), { recursive: true });
    await writeFile(path.join(home, '.docker', 'config.json'), JSON.stringify({ currentContext: 'colima' }));
    await writeContext(home, 'colima', { Name: 'colima', Endpoints: { docker: { Host: 'unix:///home/me/.colima/docker.sock', SkipTLSVerify: false } } });
    await writeContext(home, 'remote', { Name: 'remote', Endpoints: { docker: { Host: 'tcp://build.example.com:2376', SkipTLSVerify: false } } }, { 'ca.pem': 'CA', 'cert.pem': 'CERT', 'key.pem': 'KEY' });
    const cur = await discoverDockerEndpoint({ HOME: home });
    expect(cur.endpoint).toEqual({ kind: 'unix', socketPath: '/home/me/.colima/docker.sock', source: 'context "colima"' });
    const env = await discoverDockerEndpoint({ HOME: home, DOCKER_CONTEXT: 'remote' });
    expect(env.endpoint).toEqual({ kind: 'tcp', host: 'build.example.com', port: 2376, tls: { verify: true, ca: 'CA', cert: 'CERT', key: 'KEY' }, source: 'context "remote"' });
    // "default" is the default socket
    expect((await discoverDockerEndpoint({ HOME: home, DOCKER_CONTEXT: 'default' })).endpoint).toMatchObject({ socketPath: '/var/run/docker.sock' });
    // DOCKER_CONFIG moves the whole folder
    expect((await discoverDockerEndpoint({ HOME: '/nonexistent', DOCKER_CONFIG: path.join(home, '.docker') })).endpoint).toMatchObject({ source: 'context "colima"' });
  });

  it('refuses a missing context, a bad host and missing TLS files with configuration errors', async () => {
    const home = await tempHome();
    const missing = await caught(discoverDockerEndpoint({ HOME: home, DOCKER_CONTEXT: 'nope' }));
    expect([missing.code, missing.exitCode, missing.where]).toEqual(['ENGINE_CONTEXT_NOT_FOUND', 78, 'DOCKER_CONTEXT']);
    await writeContext(home, 'empty', { Name: 'empty', Endpoints: {} });
    expect((await caught(discoverDockerEndpoint({ HOME: home, DOCKER_CONTEXT: 'empty' }))).code).toBe('ENGINE_CONTEXT_NOT_FOUND');
    for (const host of ['ssh://me@host', 'npipe:////./pipe/docker_engine', 'unix://relative.sock', 'tcp://']) {
      const e = await caught(parseDockerHost(host, { HOME: home }, 'DOCKER_HOST'));
      expect([e.code, e.exitCode], host).toEqual(['ENGINE_BAD_HOST', 78]);
    }
    const tls = await caught(discoverDockerEndpoint({ HOME: home, DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(home, 'certs') }));
    expect([tls.code, tls.where]).toEqual(['ENGINE_TLS_FILES', 'DOCKER_CERT_PATH']);
    await mkdir(path.join(home, 'certs'));
    await writeFile(path.join(home, 'certs', 'ca.pem'), 'CA');
    await writeFile(path.join(home, 'certs', 'cert.pem'), 'CERT');
    expect((await caught(discoverDockerEndpoint({ HOME: home, DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(home, 'certs') }))).code).toBe('ENGINE_TLS_FILES');
    await writeFile(path.join(home, 'certs', 'key.pem'), 'KEY');
    const ok = await discoverDockerEndpoint({ HOME: home, DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(home, 'certs') });
    expect(ok.endpoint).toMatchObject({ kind: 'tcp', host: 'h', port: 2376, tls: { verify: true, ca: 'CA', cert: 'CERT', key: 'KEY' } });
  });
});

describe('the multiplexed output stream', () => {
  const collect = async (chunks: Buffer[]): Promise<{ out: string; err: string }> => {
    let out = '';
    let err = '';
    await demultiplex(Readable.from(chunks) as AsyncIterable<Buffer>, (b) => (out += b.toString()), (b) => (err += b.toString()));
    return { out, err };
  };

  it('splits frames into stdout and stderr, however the chunks fall', async () => {
    const whole = Buffer.concat([muxFrame(1, 'out 1\n'), muxFrame(2, 'err 1\n'), muxFrame(1, ''), muxFrame(1, 'out 2\n')]);
    expect(await collect([whole])).toEqual({ out: 'out 1\nout 2\n', err: 'err 1\n' });
    // one byte at a time: headers and payloads split anywhere
    expect(await collect([...whole].map((b) => Buffer.from([b])))).toEqual({ out: 'out 1\nout 2\n', err: 'err 1\n' });
    const big = Buffer.alloc(100_000, 'x');
    const framed = muxFrame(2, big);
    expect((await collect([framed.subarray(0, 5), framed.subarray(5, 50_000), framed.subarray(50_000)])).err.length).toBe(100_000);
  });

  it('fails on a stream cut inside a frame', async () => {
    const frame = muxFrame(1, 'hello');
    const e = await caught(collect([frame.subarray(0, 10)]));
    expect(e.code).toBe('ENGINE_ERROR');
  });

  it('reads JSON message streams with or without line breaks', async () => {
    const seen: unknown[] = [];
    const text = '{"stream":"Step 1 {\\"x\\"} – é\\n"}\r\n{"aux":{"ID":"sha256:ab"}}{"stream":"}"}';
    // one byte at a time: multi-byte characters split across chunks too
    const chunks = [...Buffer.from(text)].map((b) => Buffer.from([b]));
    await readJsonMessages(Readable.from(chunks) as AsyncIterable<Buffer>, (m) => seen.push(m));
    expect(seen).toEqual([{ stream: 'Step 1 {"x"} – é\n' }, { aux: { ID: 'sha256:ab' } }, { stream: '}' }]);
  });
});

describe('an engine socket that is not listening', () => {
  it('is ENGINE_UNREACHABLE (69) naming the socket, whether missing or dead', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-sock-'));
    const missing = new DockerClient({ kind: 'unix', socketPath: path.join(dir, 'none.sock'), source: 'DOCKER_HOST' });
    const e = await caught(missing.ping());
    expect([e.code, e.exitCode, e.where]).toEqual(['ENGINE_UNREACHABLE', 69, `unix://${path.join(dir, 'none.sock')}`]);
    await missing.close();

    // A server that accepts and closes at once: not the Engine API
    const sock = path.join(dir, 'rude.sock');
    const server: Server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    const rude = new DockerClient({ kind: 'unix', socketPath: sock, source: 'DOCKER_HOST' });
    const e2 = await caught(rude.ping());
    expect(e2.exitCode).toBe(69);
    await rude.close();
    await new Promise((resolve) => server.close(resolve));
  });
});
