import { Flags } from '@oclif/core';
import { usageError } from './core/errors.js';
import type { BuildOptions } from './services/build.js';

/** Flags shared by the commands that read ferry.yaml and build. */
export const configFlag = {
  config: Flags.string({
    char: 'c',
    description: 'Path of ferry.yaml (default: ./ferry.yaml).',
    env: 'FERRY_CONFIG',
    helpValue: 'FILE',
  }),
};

export const buildFlags = {
  ...configFlag,
  platform: Flags.string({ description: 'Target platform os/arch[/variant] (default from image.platform, else linux/amd64).', helpValue: 'OS/ARCH' }),
  'build-arg': Flags.string({ description: 'Set a Dockerfile ARG (repeatable); wins over image.buildArgs.', multiple: true, helpValue: 'KEY=VALUE' }),
  target: Flags.string({ description: 'Build this Dockerfile stage instead of the last one.', helpValue: 'STAGE' }),
  'no-cache': Flags.boolean({ description: 'Ignore the layer cache (layers are still written to it).' }),
};

export const registryFlags = {
  username: Flags.string({ description: 'Registry user name (with --password-stdin); otherwise docker config and credential helpers are used.', env: 'FERRY_REGISTRY_USERNAME' }),
  'password-stdin': Flags.boolean({ description: 'Read the registry password or token from stdin.' }),
  'insecure-registry': Flags.string({ description: 'Talk plain HTTP to this registry host (repeatable); same as registries.HOST.insecure.', multiple: true, helpValue: 'HOST' }),
};

/** `--build-arg KEY=VALUE` (repeatable) as a map; a value without "=" is a usage error. */
export function parseBuildArgs(items: string[] | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw usageError('USAGE_BAD_BUILD_ARG', `--build-arg ${item} is not KEY=VALUE`, {
        where: '--build-arg',
        suggestions: ['write it as --build-arg KEY=VALUE'],
      });
    }
    values[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return values;
}

/** The build options every building command takes, from its parsed flags. */
export function buildOptions(flags: {
  config?: string | undefined;
  platform?: string | undefined;
  'build-arg'?: string[] | undefined;
  target?: string | undefined;
  'no-cache': boolean;
  'insecure-registry'?: string[] | undefined;
  username?: string | undefined;
  'password-stdin': boolean;
}): BuildOptions {
  return {
    configPath: flags.config,
    platform: flags.platform,
    buildArgs: parseBuildArgs(flags['build-arg']),
    target: flags.target,
    noCache: flags['no-cache'],
    insecureRegistries: flags['insecure-registry'],
    username: flags.username,
    passwordStdin: flags['password-stdin'],
  };
}
