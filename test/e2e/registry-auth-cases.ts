/**
 * Authentication cases shared by the htpasswd and token e2e files: each file starts its own
 * registry and calls these.
 */
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { HttpEvent } from '../../src/infra/http.js';
import { runProcess } from '../../src/infra/process.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { pushImage } from '../../src/registry/push.js';
import { makeRandomLayout, pushPartsOf, type LayoutImage } from '../helpers/images.js';
import type { TestRegistry } from '../helpers/registry.js';
import { caught } from '../helpers/errors.js';


export async function smallImage(): Promise<LayoutImage> {
  const layout = await makeRandomLayout([1500]);
  const img = layout.images[0];
  if (img === undefined) throw new Error('no image');
  return img;
}

/** A client with a sandboxed environment: no real ~/.docker, only what the test puts there. */
export async function sandboxEnv(extra: NodeJS.ProcessEnv = {}): Promise<{ env: NodeJS.ProcessEnv; home: string; dockerDir: string }> {
  const home = await mkdtemp(join(tmpdir(), 'ferry-home-'));
  const dockerDir = join(home, '.docker');
  return { home, dockerDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, DOCKER_CONFIG: dockerDir, ...extra } };
}

export function clientFor(reg: TestRegistry, opts: RegistryClientOptions): RegistryClient {
  return new RegistryClient(reg.host, { insecure: true, ...opts });
}

async function skopeo(reg: TestRegistry, ref: string, creds: boolean): Promise<number | null> {
  const r = await runProcess('skopeo', ['inspect', '--tls-verify=false', ...(creds ? ['--creds', `${reg.username}:${reg.password}`] : []), `docker://${ref}`], {
    timeoutMs: 60_000,
  });
  return r.code;
}

/** Writes a docker-credential-test script that answers for `host` and records what it was asked. */
async function fakeHelper(dir: string, username: string, secret: string): Promise<string> {
  const asked = join(dir, 'asked.txt');
  const script = join(dir, 'docker-credential-test');
  await writeFile(
    script,
    `#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\necho "$server" >> ${asked}\n` +
      `case "$server" in\n  *127.0.0.1*) printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" '${username}' '${secret}' ;;\n` +
      `  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n`,
  );
  await chmod(script, 0o755);
  return asked;
}

export function authCases(getReg: () => TestRegistry): void {
  it('pushes with explicit credentials; skopeo sees the image only with credentials', async () => {
    const reg = getReg();
    const img = await smallImage();
    const events: HttpEvent[] = [];
    const client = clientFor(reg, {
      credentials: { kind: 'basic', username: reg.username, password: reg.password },
      onRequest: (e) => events.push(e),
    });
    try {
      const r = await pushImage({ client, repository: 'auth/explicit', ...pushPartsOf(img), tags: ['v1'] });
      expect(r.uploaded).toBe(2);
      expect(await skopeo(reg, `${reg.host}/auth/explicit:v1`, true)).toBe(0);
      expect(await skopeo(reg, `${reg.host}/auth/explicit:v1`, false)).not.toBe(0);
      // credentials never reach debug events
      const logged = JSON.stringify(events);
      expect(logged).not.toContain(reg.password);
      expect(logged).not.toContain(Buffer.from(`${reg.username}:${reg.password}`).toString('base64'));
      expect(events.some((e) => e.requestHeaders.authorization !== undefined)).toBe(true);
      // a re-push with the same client reuses its token or basic credentials: nothing uploaded
      const again = await pushImage({ client, repository: 'auth/explicit', ...pushPartsOf(img), tags: ['v1'] });
      expect(again.uploaded).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('a wrong password is REGISTRY_AUTH_FAILED (77) with a login suggestion', async () => {
    const reg = getReg();
    const img = await smallImage();
    const client = clientFor(reg, { credentials: { kind: 'basic', username: reg.username, password: 'wrong-password' } });
    try {
      const err = await caught(pushImage({ client, repository: 'auth/wrong', ...pushPartsOf(img), tags: ['v1'] }));
      expect(err.code).toBe('REGISTRY_AUTH_FAILED');
      expect(err.exitCode).toBe(77);
      expect(err.suggestions.join(' ')).toContain(`docker login ${reg.host}`);
    } finally {
      await client.close();
    }
  });

  it('no credentials at all is REGISTRY_AUTH_FAILED (77)', async () => {
    const reg = getReg();
    const img = await smallImage();
    const { env } = await sandboxEnv();
    const client = clientFor(reg, { credentialOptions: { env } });
    try {
      const err = await caught(pushImage({ client, repository: 'auth/anon', ...pushPartsOf(img) }));
      expect(err.code).toBe('REGISTRY_AUTH_FAILED');
      expect(err.exitCode).toBe(77);
      expect(err.details?.anonymous).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('uses `auths` from a docker config.json', async () => {
    const reg = getReg();
    const img = await smallImage();
    const { env, dockerDir } = await sandboxEnv();
    await mkdir(dockerDir, { recursive: true });
    await writeFile(
      join(dockerDir, 'config.json'),
      JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } } }),
    );
    const client = clientFor(reg, { credentialOptions: { env } });
    try {
      const r = await pushImage({ client, repository: 'auth/config', ...pushPartsOf(img), tags: ['v1'] });
      expect(r.uploaded).toBe(2);
      expect((await client.auth.credential()).source).toContain('docker config');
    } finally {
      await client.close();
    }
  });

  it('uses a credential helper (credHelpers, then credsStore) found on PATH', async () => {
    const reg = getReg();
    const img = await smallImage();
    const bin = await mkdtemp(join(tmpdir(), 'ferry-helper-'));
    const asked = await fakeHelper(bin, reg.username, reg.password);
    for (const cfg of [{ credHelpers: { [reg.host]: 'test' } }, { credsStore: 'test' }]) {
      const { env, dockerDir } = await sandboxEnv({ PATH: `${bin}:${process.env.PATH ?? ''}` });
      await mkdir(dockerDir, { recursive: true });
      await writeFile(join(dockerDir, 'config.json'), JSON.stringify(cfg));
      const client = clientFor(reg, { credentialOptions: { env } });
      try {
        const r = await pushImage({ client, repository: 'auth/helper', ...pushPartsOf(img), tags: ['v1'] });
        expect(r.digest).toBe(img.manifest.digest);
        expect((await client.auth.credential()).source).toContain('docker-credential-test');
      } finally {
        await client.close();
      }
    }
    expect((await readFile(asked, 'utf8')).trim().split('\n')).toEqual([reg.host, reg.host]);
  });
}
