/**
 * Media types of the OCI image spec and of Docker's image manifest schema 2. Registries and engines
 * serve both, often mixed in one repository, so everything that reads an image classifies by these
 * helpers instead of comparing strings in place.
 */

export const MediaType = {
  // OCI image spec v1
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  OCI_LAYER: 'application/vnd.oci.image.layer.v1.tar',
  OCI_LAYER_GZIP: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OCI_LAYER_ZSTD: 'application/vnd.oci.image.layer.v1.tar+zstd',
  // Deprecated by OCI 1.1 but still served by registries for Windows base layers.
  OCI_LAYER_NONDISTRIBUTABLE: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OCI_LAYER_NONDISTRIBUTABLE_GZIP: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OCI_LAYER_NONDISTRIBUTABLE_ZSTD: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',

  // Docker image manifest v2, schema 2
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DOCKER_CONFIG: 'application/vnd.docker.container.image.v1+json',
  DOCKER_LAYER_GZIP: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  // Not in the schema 2 document, but moby reads and some tools write it.
  DOCKER_LAYER: 'application/vnd.docker.image.rootfs.diff.tar',
  DOCKER_LAYER_ZSTD: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  DOCKER_FOREIGN_LAYER_GZIP: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DOCKER_FOREIGN_LAYER: 'application/vnd.docker.image.rootfs.foreign.diff.tar',

  // Docker schema 1: recognised only to refuse it with a clear message.
  DOCKER_MANIFEST_V1: 'application/vnd.docker.distribution.manifest.v1+json',
  DOCKER_MANIFEST_V1_SIGNED: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;
export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** The Accept header for manifest GETs/HEADs: everything ferry can read, most specific first. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OCI_INDEX,
  MediaType.OCI_MANIFEST,
  MediaType.DOCKER_MANIFEST_LIST,
  MediaType.DOCKER_MANIFEST,
];

/**
 * Strip parameters and case: a Content-Type of "application/vnd.oci.image.manifest.v1+json;
 * charset=utf-8" is the manifest media type.
 */
export function normalizeMediaType(value: string): string {
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

// RFC 6838 section 4.2 restricted-name, which is what the OCI descriptor's mediaType must follow.
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
export function isValidMediaType(value: string): boolean {
  return MEDIA_TYPE_RE.test(value);
}

const MANIFESTS = new Set<string>([MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST]);
const INDEXES = new Set<string>([MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST]);
const CONFIGS = new Set<string>([MediaType.OCI_CONFIG, MediaType.DOCKER_CONFIG]);
const SCHEMA1 = new Set<string>([MediaType.DOCKER_MANIFEST_V1, MediaType.DOCKER_MANIFEST_V1_SIGNED]);

const LAYERS = new Map<string, { compression: LayerCompression; foreign: boolean; docker: boolean }>([
  [MediaType.OCI_LAYER, { compression: 'none', foreign: false, docker: false }],
  [MediaType.OCI_LAYER_GZIP, { compression: 'gzip', foreign: false, docker: false }],
  [MediaType.OCI_LAYER_ZSTD, { compression: 'zstd', foreign: false, docker: false }],
  [MediaType.OCI_LAYER_NONDISTRIBUTABLE, { compression: 'none', foreign: true, docker: false }],
  [MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP, { compression: 'gzip', foreign: true, docker: false }],
  [MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, { compression: 'zstd', foreign: true, docker: false }],
  [MediaType.DOCKER_LAYER, { compression: 'none', foreign: false, docker: true }],
  [MediaType.DOCKER_LAYER_GZIP, { compression: 'gzip', foreign: false, docker: true }],
  [MediaType.DOCKER_LAYER_ZSTD, { compression: 'zstd', foreign: false, docker: true }],
  [MediaType.DOCKER_FOREIGN_LAYER, { compression: 'none', foreign: true, docker: true }],
  [MediaType.DOCKER_FOREIGN_LAYER_GZIP, { compression: 'gzip', foreign: true, docker: true }],
]);

/** A single-platform image manifest (OCI or Docker schema 2). */
export function isManifestMediaType(mt: string): boolean {
  return MANIFESTS.has(normalizeMediaType(mt));
}

/** A multi-platform index (OCI image index or Docker manifest list). */
export function isIndexMediaType(mt: string): boolean {
  return INDEXES.has(normalizeMediaType(mt));
}

export function isConfigMediaType(mt: string): boolean {
  return CONFIGS.has(normalizeMediaType(mt));
}

export function isSchema1MediaType(mt: string): boolean {
  return SCHEMA1.has(normalizeMediaType(mt));
}

/** A filesystem layer ferry knows how to read (any compression, distributable or not). */
export function isLayerMediaType(mt: string): boolean {
  return LAYERS.has(normalizeMediaType(mt));
}

/**
 * Foreign (Docker) and non-distributable (OCI) layers must not be pushed to another registry:
 * their licences bar it, and registries reject or skip them. They are fetched from their `urls`.
 */
export function isForeignLayerMediaType(mt: string): boolean {
  return LAYERS.get(normalizeMediaType(mt))?.foreign ?? false;
}

export function layerCompression(mt: string): LayerCompression | undefined {
  return LAYERS.get(normalizeMediaType(mt))?.compression;
}

/** Docker schema 2 media types, as opposed to OCI ones. */
export function isDockerMediaType(mt: string): boolean {
  return normalizeMediaType(mt).startsWith('application/vnd.docker.');
}

/** The layer media type for a compression, in the family (OCI or Docker) of the manifest it goes in. */
export function layerMediaType(compression: LayerCompression, family: 'oci' | 'docker' = 'oci'): string {
  if (family === 'docker') {
    switch (compression) {
      case 'gzip':
        return MediaType.DOCKER_LAYER_GZIP;
      case 'zstd':
        return MediaType.DOCKER_LAYER_ZSTD;
      case 'none':
        return MediaType.DOCKER_LAYER;
    }
  }
  switch (compression) {
    case 'gzip':
      return MediaType.OCI_LAYER_GZIP;
    case 'zstd':
      return MediaType.OCI_LAYER_ZSTD;
    case 'none':
      return MediaType.OCI_LAYER;
  }
}

/**
 * Convert a layer media type to the other family, keeping compression and foreignness, so that a
 * manifest never mixes families (some registries and older engines reject mixed manifests).
 * Unknown media types are returned unchanged.
 */
export function convertLayerMediaType(mt: string, family: 'oci' | 'docker'): string {
  const info = LAYERS.get(normalizeMediaType(mt));
  if (info === undefined || info.docker === (family === 'docker')) return mt;
  if (info.foreign) {
    const c = info.compression;
    if (family === 'docker') {
      // Docker has no zstd foreign layer type: leave it as it is rather than lie about compression.
      if (c === 'zstd') return mt;
      return c === 'none' ? MediaType.DOCKER_FOREIGN_LAYER : MediaType.DOCKER_FOREIGN_LAYER_GZIP;
    }
    return c === 'none' ? MediaType.OCI_LAYER_NONDISTRIBUTABLE : c === 'gzip' ? MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP : MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD;
  }
  return layerMediaType(info.compression, family);
}

/** The config media type that goes with a manifest media type. */
export function configMediaTypeFor(manifestMediaType: string): string {
  return isDockerMediaType(manifestMediaType) ? MediaType.DOCKER_CONFIG : MediaType.OCI_CONFIG;
}

/** The index media type that goes with a manifest media type. */
export function indexMediaTypeFor(manifestMediaType: string): string {
  return isDockerMediaType(manifestMediaType) ? MediaType.DOCKER_MANIFEST_LIST : MediaType.OCI_INDEX;
}
