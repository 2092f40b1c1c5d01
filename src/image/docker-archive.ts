/**
 * A `docker save` archive of one image in an OCI layout, streamed (never written to disk, never held
 * in memory), for `POST /images/load` and `podman load`:
 *
 *   manifest.json                [{"Config": "blobs/sha256/<config>", "RepoTags": […], "Layers": [...]}]
 *   blobs/sha256/<config>        the config, byte for byte (so the engine's image ID is its digest)
 *   blobs/sha256/<layer>…        the layers as they are in the layout, gzip-compressed
 *
 * The blob paths are those of Docker 25's own `docker save`. Layers stay compressed: Docker's
 * loader (image/tarexport) and containers/image's docker-archive reader (podman) both decompress
 * what they are given, and check each layer against the config's diff_ids, so the image ID stays
 * the config digest. zstd layers are refused: Docker before 23 cannot read them.
 */
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { dataError } from '../core/errors.js';
import { MediaType, isForeignLayerMediaType } from './media-types.js';
import type { OciLayout } from './oci-layout.js';
import type { DigestString } from './digest.js';

export interface DockerArchiveInput {
  layout: OciLayout;
  /** The image manifest's digest in the layout. */
  manifest: DigestString;
  /** NAME:TAG names the engine gives the image (may be empty: the image is then untagged). */
  repoTags?: string[];
}

const blobPath = (digest: string): string => `blobs/${digest.replace(':', '/')}`;

export async function dockerArchive(input: DockerArchiveInput): Promise<Readable> {
  const { layout } = input;
  const manifest = await layout.readManifest(input.manifest);
  for (const l of manifest.layers) {
    if (l.mediaType === MediaType.OCI_LAYER_ZSTD || l.mediaType === MediaType.DOCKER_LAYER_ZSTD) {
      throw dataError('IMAGE_UNSUPPORTED_COMPRESSION', `layer ${l.digest} is zstd-compressed; an engine loads gzip or plain layers only`, {
        suggestions: ['use a gzip-compressed base image'],
      });
    }
  }
  const layers = manifest.layers.filter((l) => !isForeignLayerMediaType(l.mediaType));
  const index = [{ Config: blobPath(manifest.config.digest), RepoTags: input.repoTags ?? [], Layers: layers.map((l) => blobPath(l.digest)) }];
  const pack = tar.pack();
  const header = (name: string, size: number): tar.Header => ({ name, size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: 'file', linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0 });

  const write = async (): Promise<void> => {
    const json = Buffer.from(JSON.stringify(index));
    await new Promise<void>((resolve, reject) => {
      pack.entry(header('manifest.json', json.length), json, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
    const config = await layout.blobs.readBytes(manifest.config.digest, 64 * 1024 * 1024);
    await new Promise<void>((resolve, reject) => {
      pack.entry(header(blobPath(manifest.config.digest), config.length), config, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
    const seen = new Set<string>();
    for (const l of layers) {
      // The same layer twice in one image (an empty layer, repeated) is stored once.
      if (seen.has(l.digest)) continue;
      seen.add(l.digest);
      const src = await layout.blobs.open(l.digest);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(header(blobPath(l.digest), l.size), (err) => {
          if (err) reject(err);
          else resolve();
        });
        src.once('error', (e) => {
          sink.destroy(e);
          reject(e);
        });
        src.pipe(sink);
      });
    }
    pack.finalize();
  };
  write().catch((e: unknown) => {
    pack.destroy(e instanceof Error ? e : new Error(String(e)));
  });
  // tar-stream's streams are streamx streams; engines and child processes want a Node stream.
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}
