import { describe, expect, it } from 'vitest';
import { MediaType } from '../../src/image/media-types.js';
import {
  MAX_MANIFEST_BYTES,
  configPlatform,
  parseImageConfig,
  parseImageIndex,
  parseImageManifest,
  parseManifestOrIndex,
  validateImageManifest,
} from '../../src/image/types.js';
import { thrown } from '../helpers/errors.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;
const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_MANIFEST,
  config: { mediaType: MediaType.OCI_CONFIG, digest: D1, size: 100 },
  layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: D2, size: 2000, annotations: { a: 'b' } }],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
};

// As Docker Hub serves it: schema 2, with media types of its own.
const dockerManifest = {
  schemaVersion: 2,
  mediaType: MediaType.DOCKER_MANIFEST,
  config: { mediaType: MediaType.DOCKER_CONFIG, size: 1469, digest: D1 },
  layers: [
    { mediaType: MediaType.DOCKER_LAYER_GZIP, size: 3408729, digest: D2 },
    { mediaType: MediaType.DOCKER_FOREIGN_LAYER_GZIP, size: 10, digest: D3, urls: ['https://example.com/layer'] },
  ],
};

const index = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_INDEX,
  manifests: [
    { mediaType: MediaType.OCI_MANIFEST, digest: D1, size: 500, platform: { architecture: 'amd64', os: 'linux' } },
    { mediaType: MediaType.OCI_MANIFEST, digest: D2, size: 500, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    {
      mediaType: MediaType.OCI_MANIFEST,
      digest: D3,
      size: 500,
      platform: { architecture: 'unknown', os: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    },
  ],
};

// A config as `docker build` writes it: nulls, and keys outside the OCI spec.
const dockerConfig = {
  architecture: 'amd64',
  os: 'linux',
  created: '2024-03-01T10:00:00.123456789Z',
  docker_version: '24.0.7',
  container_config: { Hostname: 'abc', Cmd: ['/bin/sh', '-c', '#(nop) CMD ["python"]'] },
  config: {
    Hostname: '',
    User: 'app',
    Env: ['PATH=/usr/local/bin:/usr/bin', 'LANG=C.UTF-8'],
    Entrypoint: null,
    Cmd: ['python3'],
    WorkingDir: '/app',
    Labels: null,
    ExposedPorts: { '8080/tcp': {} },
    Volumes: { '/data': {} },
    StopSignal: 'SIGTERM',
    Shell: ['/bin/bash', '-c'],
    Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 30_000_000_000, Retries: 3 },
    OnBuild: null,
    ArgsEscaped: true,
  },
  rootfs: { type: 'layers', diff_ids: [D1, D2] },
  history: [
    { created: '2024-03-01T10:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in /' },
    { created: '2024-03-01T10:00:01Z', created_by: 'CMD ["python3"]', empty_layer: true },
  ],
};

describe('parseImageManifest', () => {
  it('reads an OCI manifest', () => {
    const m = parseImageManifest(JSON.stringify(ociManifest));
    expect(m).toEqual(ociManifest);
  });

  it('reads a Docker schema 2 manifest from bytes', () => {
    const m = parseImageManifest(Buffer.from(JSON.stringify(dockerManifest)));
    expect(m.layers[1]?.urls).toEqual(['https://example.com/layer']);
    expect(m.config.digest).toBe(D1);
  });

  it('accepts a manifest without mediaType (OCI allows it) and with no layers', () => {
    const m = parseImageManifest(JSON.stringify({ schemaVersion: 2, config: ociManifest.config, layers: [] }));
    expect(m.mediaType).toBeUndefined();
    expect('mediaType' in m).toBe(false);
    expect(m.layers).toEqual([]);
  });

  const bad: [string, unknown][] = [
    ['not an object', [1, 2]],
    ['schema 1', { schemaVersion: 1, name: 'x', fsLayers: [] }],
    ['schema 1 media type', { ...ociManifest, mediaType: MediaType.DOCKER_MANIFEST_V1_SIGNED }],
    ['schema 3', { ...ociManifest, schemaVersion: 3 }],
    ['no config', { ...ociManifest, config: undefined }],
    ['layers not an array', { ...ociManifest, layers: {} }],
    ['bad digest', { ...ociManifest, config: { ...ociManifest.config, digest: 'sha256:abc' } }],
    ['uppercase digest', { ...ociManifest, config: { ...ociManifest.config, digest: D1.toUpperCase() } }],
    ['negative size', { ...ociManifest, layers: [{ ...ociManifest.layers[0], size: -1 }] }],
    ['fractional size', { ...ociManifest, layers: [{ ...ociManifest.layers[0], size: 1.5 }] }],
    ['string size', { ...ociManifest, layers: [{ ...ociManifest.layers[0], size: '12' }] }],
    ['bad media type', { ...ociManifest, layers: [{ ...ociManifest.layers[0], mediaType: 'not a type' }] }],
    ['annotation not a string', { ...ociManifest, annotations: { a: 1 } }],
    ['an index', index],
    ['index media type', { ...ociManifest, mediaType: MediaType.OCI_INDEX }],
    ['other media type', { ...ociManifest, mediaType: 'application/json' }],
    ['urls not strings', { ...ociManifest, layers: [{ ...ociManifest.layers[0], urls: [1] }] }],
    ['bad platform', { ...ociManifest, config: { ...ociManifest.config, platform: { os: 'linux' } } }],
  ];
  it.each(bad)('rejects %s with IMAGE_BAD_MANIFEST (65)', (_name, doc) => {
    expect(thrown(() => parseImageManifest(JSON.stringify(doc), { where: 'registry.example.com/app@sha256:…' }))).toMatchObject({
      code: 'IMAGE_BAD_MANIFEST',
      exitCode: 65,
      where: 'registry.example.com/app@sha256:…',
    });
  });

  it('names the path of the bad field', () => {
    const err = thrown(() => validateImageManifest({ ...ociManifest, layers: [ociManifest.layers[0], { ...ociManifest.layers[0], digest: 'nope' }] }));
    expect(err).toMatchObject({ details: { path: 'layers[1].digest' } });
  });

  it.each(['', '{', 'null', '"x"', '\u0000'])('rejects non-JSON or non-object %j', (text) => {
    expect(thrown(() => parseImageManifest(text))).toMatchObject({ code: 'IMAGE_BAD_MANIFEST' });
  });

  it('refuses documents over the size limit before parsing them', () => {
    const huge = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
    expect(thrown(() => parseImageManifest(huge))).toMatchObject({ code: 'IMAGE_BAD_MANIFEST' });
  });
});

describe('parseImageIndex and parseManifestOrIndex', () => {
  it('reads an index with platforms', () => {
    const i = parseImageIndex(JSON.stringify(index));
    expect(i.manifests).toHaveLength(3);
    expect(i.manifests[1]?.platform).toEqual({ architecture: 'arm64', os: 'linux', variant: 'v8' });
  });

  it('reads a Docker manifest list', () => {
    const list = { ...index, mediaType: MediaType.DOCKER_MANIFEST_LIST };
    expect(parseImageIndex(JSON.stringify(list)).mediaType).toBe(MediaType.DOCKER_MANIFEST_LIST);
  });

  it('rejects a manifest given as an index, and an index without manifests', () => {
    expect(thrown(() => parseImageIndex(JSON.stringify(ociManifest)))).toMatchObject({ code: 'IMAGE_BAD_MANIFEST' });
    expect(thrown(() => parseImageIndex(JSON.stringify({ schemaVersion: 2 })))).toMatchObject({ code: 'IMAGE_BAD_MANIFEST' });
  });

  it('tells manifests from indexes by mediaType, Content-Type, then shape', () => {
    expect(parseManifestOrIndex(JSON.stringify(index)).kind).toBe('index');
    expect(parseManifestOrIndex(JSON.stringify(ociManifest)).kind).toBe('manifest');
    const { mediaType: _i, ...bareIndex } = index;
    const { mediaType: _m, ...bareManifest } = ociManifest;
    expect(parseManifestOrIndex(JSON.stringify(bareIndex)).kind).toBe('index');
    expect(parseManifestOrIndex(JSON.stringify(bareManifest)).kind).toBe('manifest');
    expect(parseManifestOrIndex(JSON.stringify(bareIndex), { contentType: `${MediaType.OCI_INDEX}; charset=utf-8` }).kind).toBe('index');
    // The Content-Type says manifest but the body is an index: the body is checked as a manifest and fails.
    expect(thrown(() => parseManifestOrIndex(JSON.stringify(bareIndex), { contentType: MediaType.OCI_MANIFEST }))).toMatchObject({ code: 'IMAGE_BAD_MANIFEST' });
  });

  it('rejects schema 1 with a message that says so', () => {
    const err = thrown(() => parseManifestOrIndex(JSON.stringify({ schemaVersion: 1, fsLayers: [] })));
    expect(err).toMatchObject({ code: 'IMAGE_BAD_MANIFEST', details: { path: 'schemaVersion' } });
  });
});

describe('parseImageConfig', () => {
  it('reads a Docker config, treating nulls as absent and keeping extra keys', () => {
    const c = parseImageConfig(JSON.stringify(dockerConfig));
    expect(c.architecture).toBe('amd64');
    expect(c.rootfs.diff_ids).toEqual([D1, D2]);
    expect(c.config?.Env).toEqual(['PATH=/usr/local/bin:/usr/bin', 'LANG=C.UTF-8']);
    expect(c.config?.Cmd).toEqual(['python3']);
    expect(c.config && 'Entrypoint' in c.config).toBe(false);
    expect(c.config && 'Labels' in c.config).toBe(false);
    expect(c.config?.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(c.config?.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 30_000_000_000, Retries: 3 });
    expect(c.history?.[1]?.empty_layer).toBe(true);
    // Round trip: what is not modelled survives.
    const again = JSON.parse(JSON.stringify(c)) as Record<string, unknown>;
    expect(again.docker_version).toBe('24.0.7');
    expect((again.config as Record<string, unknown>).Hostname).toBe('');
    expect(again.container_config).toEqual(dockerConfig.container_config);
  });

  it('reads a minimal OCI config (no config, no history, diff_ids missing)', () => {
    const c = parseImageConfig(JSON.stringify({ architecture: 'arm64', os: 'linux', variant: 'v8', rootfs: { type: 'layers' } }));
    expect(c.rootfs.diff_ids).toEqual([]);
    expect(configPlatform(c)).toEqual({ architecture: 'arm64', os: 'linux', variant: 'v8' });
  });

  const bad: [string, unknown][] = [
    ['not an object', 'x'],
    ['no architecture', { ...dockerConfig, architecture: undefined }],
    ['empty os', { ...dockerConfig, os: '' }],
    ['no rootfs', { ...dockerConfig, rootfs: undefined }],
    ['rootfs type', { ...dockerConfig, rootfs: { type: 'tar', diff_ids: [] } }],
    ['bad diff_id', { ...dockerConfig, rootfs: { type: 'layers', diff_ids: ['sha256:zz'] } }],
    ['Env not strings', { ...dockerConfig, config: { Env: [1] } }],
    ['Cmd a string', { ...dockerConfig, config: { Cmd: 'python' } }],
    ['Labels values', { ...dockerConfig, config: { Labels: { a: 1 } } }],
    ['ExposedPorts values', { ...dockerConfig, config: { ExposedPorts: { '80/tcp': 'yes' } } }],
    ['Healthcheck interval', { ...dockerConfig, config: { Healthcheck: { Interval: -5 } } }],
    ['ArgsEscaped', { ...dockerConfig, config: { ArgsEscaped: 'yes' } }],
    ['history not an array', { ...dockerConfig, history: {} }],
    ['history entry', { ...dockerConfig, history: [{ empty_layer: 'true' }] }],
  ];
  it.each(bad)('rejects %s with IMAGE_BAD_CONFIG (65)', (_name, doc) => {
    expect(thrown(() => parseImageConfig(JSON.stringify(doc)))).toMatchObject({ code: 'IMAGE_BAD_CONFIG', exitCode: 65 });
  });

  it('keeps the JSON parse error as the cause', () => {
    const err = thrown(() => parseImageConfig('{oops'));
    expect(err).toMatchObject({ code: 'IMAGE_BAD_CONFIG' });
    expect((err as Error).cause).toBeInstanceOf(SyntaxError);
  });
});
