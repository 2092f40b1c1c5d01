import { describe, expect, it } from 'vitest';
import {
  MANIFEST_ACCEPT,
  MediaType,
  configMediaTypeFor,
  convertLayerMediaType,
  indexMediaTypeFor,
  isConfigMediaType,
  isDockerMediaType,
  isForeignLayerMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  isValidMediaType,
  layerCompression,
  layerMediaType,
  normalizeMediaType,
} from '../../src/image/media-types.js';

describe('media types', () => {
  it('classifies manifests, indexes and configs of both families', () => {
    expect(isManifestMediaType(MediaType.OCI_MANIFEST)).toBe(true);
    expect(isManifestMediaType(MediaType.DOCKER_MANIFEST)).toBe(true);
    expect(isManifestMediaType(MediaType.OCI_INDEX)).toBe(false);
    expect(isIndexMediaType(MediaType.OCI_INDEX)).toBe(true);
    expect(isIndexMediaType(MediaType.DOCKER_MANIFEST_LIST)).toBe(true);
    expect(isIndexMediaType(MediaType.DOCKER_MANIFEST)).toBe(false);
    expect(isConfigMediaType(MediaType.OCI_CONFIG)).toBe(true);
    expect(isConfigMediaType(MediaType.DOCKER_CONFIG)).toBe(true);
    expect(isConfigMediaType(MediaType.OCI_LAYER_GZIP)).toBe(false);
    expect(isSchema1MediaType(MediaType.DOCKER_MANIFEST_V1_SIGNED)).toBe(true);
  });

  it('ignores parameters and case, as in a Content-Type header', () => {
    expect(normalizeMediaType('Application/VND.oci.image.manifest.v1+json; charset=utf-8')).toBe(MediaType.OCI_MANIFEST);
    expect(isManifestMediaType(`${MediaType.DOCKER_MANIFEST};charset=utf-8`)).toBe(true);
  });

  it.each([
    [MediaType.OCI_LAYER, 'none', false],
    [MediaType.OCI_LAYER_GZIP, 'gzip', false],
    [MediaType.OCI_LAYER_ZSTD, 'zstd', false],
    [MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP, 'gzip', true],
    [MediaType.DOCKER_LAYER_GZIP, 'gzip', false],
    [MediaType.DOCKER_LAYER, 'none', false],
    [MediaType.DOCKER_FOREIGN_LAYER_GZIP, 'gzip', true],
  ] as const)('%s is a layer compressed with %s, foreign: %s', (mt, compression, foreign) => {
    expect(isLayerMediaType(mt)).toBe(true);
    expect(layerCompression(mt)).toBe(compression);
    expect(isForeignLayerMediaType(mt)).toBe(foreign);
  });

  it('does not take configs, manifests or unknown types for layers', () => {
    for (const mt of [MediaType.OCI_CONFIG, MediaType.OCI_MANIFEST, 'application/octet-stream']) {
      expect(isLayerMediaType(mt)).toBe(false);
      expect(layerCompression(mt)).toBeUndefined();
      expect(isForeignLayerMediaType(mt)).toBe(false);
    }
  });

  it('picks and converts layer media types per family', () => {
    expect(layerMediaType('gzip')).toBe(MediaType.OCI_LAYER_GZIP);
    expect(layerMediaType('gzip', 'docker')).toBe(MediaType.DOCKER_LAYER_GZIP);
    expect(layerMediaType('none', 'docker')).toBe(MediaType.DOCKER_LAYER);
    expect(convertLayerMediaType(MediaType.OCI_LAYER_GZIP, 'docker')).toBe(MediaType.DOCKER_LAYER_GZIP);
    expect(convertLayerMediaType(MediaType.DOCKER_LAYER_GZIP, 'oci')).toBe(MediaType.OCI_LAYER_GZIP);
    expect(convertLayerMediaType(MediaType.DOCKER_FOREIGN_LAYER_GZIP, 'oci')).toBe(MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP);
    expect(convertLayerMediaType(MediaType.OCI_LAYER_NONDISTRIBUTABLE, 'docker')).toBe(MediaType.DOCKER_FOREIGN_LAYER);
    // No Docker equivalent: left alone rather than mislabelled.
    expect(convertLayerMediaType(MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, 'docker')).toBe(MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD);
    expect(convertLayerMediaType(MediaType.OCI_LAYER_GZIP, 'oci')).toBe(MediaType.OCI_LAYER_GZIP);
    expect(convertLayerMediaType('application/x-custom', 'docker')).toBe('application/x-custom');
  });

  it('pairs configs and indexes with manifests of the same family', () => {
    expect(configMediaTypeFor(MediaType.DOCKER_MANIFEST)).toBe(MediaType.DOCKER_CONFIG);
    expect(configMediaTypeFor(MediaType.OCI_MANIFEST)).toBe(MediaType.OCI_CONFIG);
    expect(indexMediaTypeFor(MediaType.DOCKER_MANIFEST)).toBe(MediaType.DOCKER_MANIFEST_LIST);
    expect(indexMediaTypeFor(MediaType.OCI_MANIFEST)).toBe(MediaType.OCI_INDEX);
    expect(isDockerMediaType(MediaType.DOCKER_CONFIG)).toBe(true);
    expect(isDockerMediaType(MediaType.OCI_CONFIG)).toBe(false);
  });

  it('accepts only well-formed media type names', () => {
    expect(isValidMediaType(MediaType.OCI_MANIFEST)).toBe(true);
    expect(isValidMediaType('application/vnd.example+type')).toBe(true);
    for (const bad of ['', 'application', 'application/', '/json', 'a b/c', 'application/json; charset=utf-8', `application/${'x'.repeat(200)}`]) {
      expect(isValidMediaType(bad)).toBe(false);
    }
  });

  it('asks registries for every manifest kind ferry reads', () => {
    expect(MANIFEST_ACCEPT).toEqual(expect.arrayContaining([MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_MANIFEST_LIST]));
  });
});
