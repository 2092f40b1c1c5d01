/**
 * Registry auth against a real distribution registry in token mode: the Docker Hub style flow
 * (401 challenge, token from the realm, Bearer), with a test token server signing JWTs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage } from '../../src/registry/push.js';
import { pushPartsOf } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { authCases, clientFor, sandboxEnv, smallImage } from './registry-auth-cases.js';
import { caught } from '../helpers/errors.js';

let reg: TestRegistry;

beforeAll(async () => {
  reg = await startRegistry({ mode: 'token' });
});

afterAll(async () => {
  await reg.stop();
});

describe('token auth', () => {
  authCases(() => reg);

  it('caches tokens: one token for a whole push, none for a re-push', async () => {
    const img = await smallImage();
    const client = clientFor(reg, { credentials: { kind: 'basic', username: reg.username, password: reg.password } });
    try {
      await pushImage({ client, repository: 'token/cache', ...pushPartsOf(img), tags: ['a', 'b'] });
      expect(client.auth.tokenRequests).toBe(1);
      await pushImage({ client, repository: 'token/cache', ...pushPartsOf(img), tags: ['a'] });
      expect(client.auth.tokenRequests).toBe(1);
      const seen = reg.tokenServer?.requests.at(-1);
      expect(seen?.scopes).toEqual(['repository:token/cache:pull,push']);
      expect(seen?.account).toBe(reg.username);
    } finally {
      await client.close();
    }
  });

  it('fetches a new token when the registry refuses the cached one', async () => {
    const img = await smallImage();
    const client = clientFor(reg, { credentials: { kind: 'basic', username: reg.username, password: reg.password } });
    try {
      reg.tokenServer?.spoilNext(1);
      const r = await pushImage({ client, repository: 'token/refresh', ...pushPartsOf(img), tags: ['v1'] });
      expect(r.uploaded).toBe(2);
      expect(client.auth.tokenRequests).toBe(2);
    } finally {
      await client.close();
    }
  });

  it('asks for pull on the source repository when mounting', async () => {
    const img = await smallImage();
    const client = clientFor(reg, { credentials: { kind: 'basic', username: reg.username, password: reg.password } });
    try {
      await pushImage({ client, repository: 'token/src', ...pushPartsOf(img) });
      const parts = pushPartsOf(img);
      const fromSrc = (b: (typeof parts.layers)[number]): { descriptor: typeof b.descriptor; origin: { kind: 'registry'; client: typeof client; repository: string } } => ({
        descriptor: b.descriptor,
        origin: { kind: 'registry', client, repository: 'token/src' },
      });
      const r = await pushImage({ client, repository: 'token/dst', manifest: parts.manifest, config: fromSrc(parts.config), layers: parts.layers.map(fromSrc) });
      expect(r.mounted).toBe(2);
      expect(reg.tokenServer?.requests.some((q) => q.scopes.includes('repository:token/src:pull') && q.scopes.includes('repository:token/dst:pull,push'))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('a user who may only pull is REGISTRY_DENIED (77)', async () => {
    const img = await smallImage();
    const client = clientFor(reg, { credentials: { kind: 'basic', ...reg.readOnlyUser } });
    try {
      const err = await caught(pushImage({ client, repository: 'token/readonly', ...pushPartsOf(img), tags: ['v1'] }));
      expect(err.code).toBe('REGISTRY_DENIED');
      expect(err.exitCode).toBe(77);
    } finally {
      await client.close();
    }
  });

  it('uses an identity token from docker config (OAuth2 refresh token)', async () => {
    const img = await smallImage();
    const { env, dockerDir } = await sandboxEnv();
    await mkdir(dockerDir, { recursive: true });
    await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { identitytoken: reg.identityToken } } }));
    const client = clientFor(reg, { credentialOptions: { env } });
    try {
      const r = await pushImage({ client, repository: 'token/identity', ...pushPartsOf(img), tags: ['v1'] });
      expect(r.uploaded).toBe(2);
      expect(reg.tokenServer?.requests.at(-1)?.method).toBe('POST');
    } finally {
      await client.close();
    }
  });
});
