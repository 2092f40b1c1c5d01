import { describe, expect, it } from 'vitest';
import { imageSources } from '../../src/builders/native/builder.js';
import { parseConfigText } from '../../src/config/loader.js';
import { parseImageRef } from '../../src/core/image-ref.js';
import { FerryError } from '../../src/core/errors.js';

describe('registries.mirrors', () => {
  it('maps a docker.io name onto each mirror, then the registry itself', () => {
    const ref = parseImageRef('python:3.9');
    expect(imageSources(ref, { 'docker.io': ['127.0.0.1:5000/mirror', 'cache.local'] })).toEqual([
      { registry: '127.0.0.1:5000', repository: 'mirror/library/python' },
      { registry: 'cache.local', repository: 'library/python' },
      { registry: 'docker.io', repository: 'library/python' },
    ]);
    expect(imageSources(parseImageRef('ghcr.io/org/app:1'), { 'docker.io': 'm.local/x' })).toEqual([{ registry: 'ghcr.io', repository: 'org/app' }]);
  });

  it('is accepted beside host settings, and a bad mirror is a config error at its key', () => {
    const cfg = parseConfigText(
      'apiVersion: ferry/v1\nimage: {name: a/b}\nregistries:\n  mirrors:\n    docker.io: 127.0.0.1:5000/mirror\n  "127.0.0.1:5000": {insecure: true}\n',
      'ferry.yaml',
    );
    expect(cfg.registries.mirrors).toEqual({ 'docker.io': '127.0.0.1:5000/mirror' });
    expect(cfg.registries['127.0.0.1:5000']?.insecure).toBe(true);
    let err: unknown;
    try {
      parseConfigText('apiVersion: ferry/v1\nimage: {name: a/b}\nregistries:\n  mirrors:\n    docker.io: "http://x/Mirror"\n', 'ferry.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('CONFIG_INVALID');
    expect((err as FerryError).where).toBe('ferry.yaml:5:16 (registries.mirrors.docker.io)');
  });
});
