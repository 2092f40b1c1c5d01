import type { RunContext } from '../core/context.js';
import { configError } from '../core/errors.js';
import { formatBytes } from '../ui/format.js';
import { pushProgressPrinter } from '../ui/progress.js';
import { pushImage, type PushBlob } from '../registry/push.js';
import { buildResult, prepareAndBuild, type BuildOptions, type LayerReport } from './build.js';

export interface PushResult {
  /** The pinned reference: NAME@sha256:… */
  image: string;
  digest: string;
  tags: string[];
  registry: string;
  repository: string;
  platform: string;
  blobs: { uploaded: number; skipped: number; mounted: number };
  bytesUploaded: number;
  /** HTTP requests to registries during the push (token requests included). */
  requests: number;
  layers: LayerReport[];
  /** The image ID: the config digest. */
  config: string;
  /** The image's ENTRYPOINT, when it has one. */
  entrypoint?: string[];
  /** The image's CMD, when it has one. */
  cmd?: string[];
  /** Why the image config says the image has /bin/sh, when it does. */
  shellHint?: string;
  /** The manifest's media type (one image manifest, never an index). */
  manifestMediaType?: string;
  /** Hybrid builds: the prefix (see BuildResult.prefix) and the tag it was pushed under. */
  prefix?: { key: string; line: number; source: string; tag?: string };
}

export async function pushService(opts: BuildOptions, ctx: RunContext): Promise<PushResult> {
  const prepared = await prepareAndBuild(opts, ctx);
  const { built, name, pool, loaded } = prepared;
  try {
    if (name === undefined) {
      throw configError('CONFIG_MISSING_IMAGE_NAME', 'nothing to push to: image.name is not set', {
        where: `${loaded.file} (image.name)`,
        suggestions: ['set image.name in ferry.yaml (e.g. registry.example.com/team/app), or pass --image NAME'],
      });
    }
    const client = pool.client(name.registry);
    await pool.prepareRepository(name.registry, name.repository);
    const blobOf = (l: (typeof built.layers)[number]): PushBlob => ({
      descriptor: { digest: l.descriptor.digest, size: l.descriptor.size, mediaType: l.descriptor.mediaType },
      origin:
        l.origin.kind === 'local'
          ? { kind: 'file', path: prepared.cache.blobs.path(l.descriptor.digest) }
          : { kind: 'registry', client: pool.client(l.origin.registry), repository: l.origin.repository },
    });
    const tags = loaded.config.image.tags;
    ctx.reporter.info(`pushing ${name.toString()}@${built.digest}${tags.length > 0 ? ` (tags: ${tags.join(', ')})` : ''}`);
    const res = await pushImage({
      client,
      repository: name.repository,
      manifest: { bytes: built.manifestBytes, mediaType: built.manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json' },
      config: { descriptor: { ...built.manifest.config }, origin: { kind: 'bytes', bytes: built.configBytes } },
      layers: built.layers.map(blobOf),
      tags,
      concurrency: client.concurrency,
      onProgress: pushProgressPrinter(ctx.reporter),
    });
    // A hybrid build's prefix is tagged next to the image, so a fresh runner with an empty cache
    // and no engine finds it. Its layers are the image's first layers: only its config is new.
    let prefixTagged: string | undefined;
    const h = built.hybrid;
    if (h?.image !== undefined && h.image.manifestBytes.byteLength > 0) {
      const { parseImageManifest } = await import('../image/types.js');
      const { prefixTag } = await import('../builders/hybrid.js');
      const pm = parseImageManifest(h.image.manifestBytes);
      await pushImage({
        client,
        repository: name.repository,
        manifest: { bytes: h.image.manifestBytes, mediaType: pm.mediaType ?? 'application/vnd.oci.image.manifest.v1+json' },
        config: { descriptor: { ...pm.config }, origin: { kind: 'bytes', bytes: h.image.configBytes } },
        layers: built.layers.slice(0, h.image.layerCount).map(blobOf),
        tags: [prefixTag(h.key)],
        concurrency: client.concurrency,
      });
      prefixTagged = `${name.toString()}:${prefixTag(h.key)}`;
      ctx.reporter.info(`tagged the build prefix as ${prefixTagged}`);
    }
    const image = `${name.toString()}@${res.digest}`;
    const report = buildResult(prepared, '');
    ctx.reporter.info(
      `pushed ${image}: ${res.uploaded} uploaded (${formatBytes(res.bytesUploaded)}), ${res.mounted} mounted, ${res.skipped} already there`,
    );
    return {
      image,
      digest: res.digest,
      tags: res.tags,
      registry: name.registry,
      repository: name.repository,
      platform: report.platform,
      blobs: { uploaded: res.uploaded, skipped: res.skipped, mounted: res.mounted },
      bytesUploaded: res.bytesUploaded,
      requests: res.requests,
      layers: report.layers,
      config: report.config,
      ...(report.entrypoint !== undefined ? { entrypoint: report.entrypoint } : {}),
      ...(report.cmd !== undefined ? { cmd: report.cmd } : {}),
      ...(report.shellHint !== undefined ? { shellHint: report.shellHint } : {}),
      ...(report.manifestMediaType !== undefined ? { manifestMediaType: report.manifestMediaType } : {}),
      ...(report.prefix !== undefined ? { prefix: { ...report.prefix, ...(prefixTagged !== undefined ? { tag: prefixTagged } : {}) } } : {}),
    };
  } finally {
    await pool.close();
  }
}
