import { Flags } from '@oclif/core';

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

/** Parse repeated KEY=VALUE flags. Returns the bad item for the caller's error. */
export function parseKeyValues(items: string[] | undefined): { values: Record<string, string>; bad?: string } {
  const values: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { values, bad: item };
    values[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return { values };
}
