import { access } from 'node:fs/promises';
import type { RunContext } from '../core/context.js';
import { configError } from '../core/errors.js';
import { loadConfig, type ConfigOverrides, type LoadedConfig } from '../config/loader.js';

export interface ValidateResult {
  file: string;
  image: { name: string | null; platform: string; context: string; dockerfile: string; tags: string[] };
  registries: string[];
}

/** Load ferry.yaml and check what the schema alone cannot: paths exist, names parse. */
export async function loadAndCheckConfig(
  opts: { configPath?: string | undefined; overrides?: ConfigOverrides },
  ctx: RunContext,
): Promise<LoadedConfig> {
  const loaded = await loadConfig({ configPath: opts.configPath, cwd: ctx.cwd, env: ctx.env, ...(opts.overrides ? { overrides: opts.overrides } : {}) });
  try {
    await access(loaded.contextDir);
  } catch (e) {
    throw configError('CONFIG_CONTEXT_NOT_FOUND', `image.context ${loaded.config.image.context} does not exist (${loaded.contextDir})`, {
      where: `${loaded.file} (image.context)`,
      cause: e,
      suggestions: ['image.context is relative to ferry.yaml; fix the path or create the folder'],
    });
  }
  try {
    await access(loaded.dockerfile);
  } catch (e) {
    throw configError('CONFIG_DOCKERFILE_NOT_FOUND', `Dockerfile ${loaded.dockerfile} does not exist`, {
      where: `${loaded.file} (image.dockerfile)`,
      cause: e,
      suggestions: ['image.dockerfile is relative to image.context; fix the path or create the Dockerfile'],
    });
  }
  return loaded;
}

export async function validateConfig(opts: { configPath?: string | undefined }, ctx: RunContext): Promise<ValidateResult> {
  const loaded = await loadAndCheckConfig(opts, ctx);
  const img = loaded.config.image;
  return {
    file: loaded.file,
    image: { name: img.name ?? null, platform: img.platform, context: loaded.contextDir, dockerfile: loaded.dockerfile, tags: img.tags },
    registries: Object.keys(loaded.config.registries),
  };
}
