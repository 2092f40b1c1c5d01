import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunContext } from '../core/context.js';
import { configError, FerryError } from '../core/errors.js';
import { isValidTag, parseImageRef } from '../core/image-ref.js';
import { parsePlatform } from '../image/platform.js';
import { ecrRepositoryProblem, isEcrHost } from '../registry/ecr/hosts.js';
import { loadConfig, type ConfigOverrides, type LoadedConfig } from '../config/loader.js';

export interface ValidateResult {
  file: string;
  image: { name: string | null; platform: string; context: string; dockerfile: string; tags: string[]; builder: string };
  /** The Dockerfile has a step only an engine can build (RUN, ...). */
  needsEngine: boolean;
  registries: string[];
}

/** Load ferry.yaml and check what the schema alone cannot: paths exist, names parse. */
export async function loadAndCheckConfig(
  opts: { configPath?: string | undefined; overrides?: ConfigOverrides },
  ctx: RunContext,
): Promise<LoadedConfig> {
  const loaded = await loadConfig({ configPath: opts.configPath, cwd: ctx.cwd, env: ctx.env, ...(opts.overrides ? { overrides: opts.overrides } : {}) });
  checkValues(loaded);
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
  // The Dockerfile is part of what the config describes: its syntax errors fail validation, and
  // what only an engine can build is a warning (the native builder is not the only builder).
  const { parseDockerfile, resolveBuildPlan, findNativeBlocker } = await import('../builders/native/dockerfile.js');
  const display = path.relative(ctx.cwd, loaded.dockerfile) || loaded.dockerfile;
  const df = parseDockerfile(await readFile(loaded.dockerfile, 'utf8'), { file: display, heredocs: 'allow' });
  for (const w of df.warnings) ctx.reporter.warn(`${display}:${w.line}: ${w.message}`);
  const blocker = findNativeBlocker(resolveBuildPlan(df, { buildArgs: img.buildArgs }));
  if (blocker !== undefined && img.builder === 'native') {
    // image.builder: native can never build this Dockerfile: that is a configuration error.
    throw configError('CONFIG_BUILDER_CANNOT_BUILD', `image.builder is native, but ${display}:${blocker.instruction.line} has ${blocker.instruction.kind}: ${blocker.reason}`, {
      where: `${loaded.file} (image.builder)`,
      suggestions: ['set image.builder to auto (or an engine: docker, podman, buildah)', ...blocker.suggestions.slice(0, 1)],
    });
  }
  if (blocker !== undefined) {
    ctx.reporter.info(`${display}:${blocker.instruction.line}: ${blocker.instruction.kind} needs an engine (${img.builder === 'auto' ? 'auto picks one' : img.builder})`);
  }
  return {
    file: loaded.file,
    image: { name: img.name ?? null, platform: img.platform, context: loaded.contextDir, dockerfile: loaded.dockerfile, tags: img.tags, builder: img.builder },
    needsEngine: blocker !== undefined,
    registries: Object.keys(loaded.config.registries),
  };
}

/**
 * What zod cannot judge alone: the image name by the distribution reference grammar, tags, the
 * platform. Problems here are configuration errors (78), whatever code the parser gives them.
 */
function checkValues(loaded: LoadedConfig): void {
  const img = loaded.config.image;
  const at = (key: string): string => `${loaded.file} (${key})`;
  if (img.name !== undefined) {
    checkEcrName(img.name, loaded);
    try {
      const ref = parseImageRef(img.name, at('image.name'));
      if (ref.tag !== undefined || ref.digest !== undefined) {
        throw configError('CONFIG_IMAGE_NAME_HAS_TAG', `image.name "${img.name}" must be a repository without a tag or digest`, {
          where: at('image.name'),
          suggestions: [`set image.name to ${ref.registry}/${ref.repository} and put the tag in image.tags (or pass --tag)`],
        });
      }
    } catch (e) {
      throw asConfigError(e, at('image.name'));
    }
  }
  for (const tag of img.tags) {
    if (!isValidTag(tag)) {
      throw configError('IMAGE_REF_INVALID', `tag "${tag}" is not a valid tag (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)`, {
        where: at('image.tags'),
        suggestions: ['fix or remove the tag in image.tags or --tag'],
      });
    }
  }
  try {
    parsePlatform(img.platform, { where: at('image.platform'), kind: 'config' });
  } catch (e) {
    throw asConfigError(e, at('image.platform'));
  }
}

/**
 * An image on Amazon ECR: its repository name by ECR's own rules and limits (2 to 256 characters,
 * lowercase path components), checked before any AWS call and before the build. Checked ahead of
 * the general reference grammar, so an ECR name gets ECR's rule in the message.
 */
function checkEcrName(name: string, loaded: LoadedConfig): void {
  const slash = name.indexOf('/');
  if (slash === -1) return;
  const host = name.slice(0, slash);
  if (!isEcrHost(host)) return;
  const repository = name.slice(slash + 1).replace(/[:@].*$/, '');
  const problem = ecrRepositoryProblem(repository);
  if (problem === undefined) return;
  const shown = repository.length > 60 ? `${repository.slice(0, 40)}…(${repository.length} characters)` : repository;
  const inFile = loaded.locate?.(['image', 'name'], name);
  throw configError('ECR_REPOSITORY_NAME_INVALID', `${inFile === undefined ? '' : `${inFile}: `}image.name: the ECR repository "${shown}" ${problem}`, {
    where: inFile === undefined ? `${loaded.file} (image.name)` : `${inFile} (image.name)`,
    details: { registry: host, length: repository.length },
    suggestions: ['use 2 to 256 characters: lowercase letters and digits, with . _ - between them and / between path components (e.g. team/app)'],
  });
}

function asConfigError(e: unknown, where: string): unknown {
  if (!(e instanceof FerryError) || e.exitCode === 78) return e;
  return configError(e.code, e.message, { where, suggestions: e.suggestions, cause: e, ...(e.details ? { details: e.details } : {}) });
}
