import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { pushImage } from '../../src/registry/push.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeRandomLayout, pushPartsOf, type TestLayout } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/**
 * Tags on a re-push: a tag that already names the image is not written again (a repository with
 * immutable tags, such as ECR's IMMUTABLE, refuses a rewrite), a new tag is.
 */
let reg: TestRegistry;
let proxy: FaultProxy;
let layout: TestLayout;

beforeAll(async () => {
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url);
  layout = await makeRandomLayout([2000]);
});

afterAll(async () => {
  await proxy.stop();
  await reg.stop();
});

describe('tags on a re-push', () => {
  it('does not PUT a tag that already names the image, and PUTs a new one', async () => {
    const img = layout.images[0];
    if (img === undefined) throw new Error('no image');
    const client = new RegistryClient(proxy.host, { insecure: true, credentials: { kind: 'anonymous' } });
    const first = await pushImage({ client, repository: 'team/tags', ...pushPartsOf(img), tags: ['v1', 'v2'] });
    const putsFirst = proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/')).length;
    expect(putsFirst).toBe(3); // by digest, v1, v2
    proxy.requests.length = 0;
    const again = await pushImage({ client, repository: 'team/tags', ...pushPartsOf(img), tags: ['v1', 'v2', 'v3'] });
    expect(again.digest).toBe(first.digest);
    const puts = proxy.requests.filter((r) => r.method === 'PUT').map((r) => r.path);
    expect(puts).toEqual(['/v2/team/tags/manifests/v3']);
    const head = await client.headManifest('team/tags', 'v3');
    expect(head?.digest).toBe(first.digest);
  });
});
