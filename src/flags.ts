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

/** Flags of the commands that run the image on a local engine (`run`, `deploy`). */
export const runFlags = {
  entrypoint: Flags.string({ description: "Replace the image's ENTRYPOINT (and job.command) with this program; \"\" clears it.", helpValue: 'PROGRAM' }),
  env: Flags.string({
    char: 'e',
    description: "Set an environment variable in the container (repeatable); KEY alone passes on ferry's own value of KEY. Wins over --env-file and job.env.",
    multiple: true,
    helpValue: 'KEY=VALUE',
  }),
  'env-file': Flags.string({ description: "Read environment variables from a file of KEY=VALUE lines, docker's --env-file format (repeatable).", multiple: true, helpValue: 'FILE' }),
  volume: Flags.string({
    char: 'v',
    description: 'Bind-mount a host path (or a named volume) into the container (repeatable); a relative SRC is relative to the current folder and must exist.',
    multiple: true,
    helpValue: 'SRC:DST[:ro]',
  }),
  publish: Flags.string({ char: 'p', description: 'Publish a container port on the host (repeatable).', multiple: true, helpValue: '[IP:][HOST:]CONTAINER[/PROTO]' }),
  network: Flags.string({ description: 'Network mode or network name (bridge, host, none, or a network the engine has).', helpValue: 'NETWORK' }),
  workdir: Flags.string({ char: 'w', description: 'Working directory in the container (absolute).', helpValue: 'DIR' }),
  user: Flags.string({ char: 'u', description: 'Run as this user: UID[:GID] or a name from the image.', helpValue: 'USER' }),
  engine: Flags.string({
    description: 'Which engine runs the container: auto (a reachable Docker Engine API, else podman), docker (DOCKER_HOST, docker contexts, /var/run/docker.sock) or podman (the podman CLI).',
    options: ['auto', 'docker', 'podman'],
    helpValue: 'ENGINE',
  }),
};

/** The run options from parsed `runFlags`. */
export function runOptions(flags: {
  entrypoint?: string | undefined;
  env?: string[] | undefined;
  'env-file'?: string[] | undefined;
  volume?: string[] | undefined;
  publish?: string[] | undefined;
  network?: string | undefined;
  workdir?: string | undefined;
  user?: string | undefined;
  engine?: string | undefined;
}): {
  entrypoint: string | undefined;
  env: string[] | undefined;
  envFiles: string[] | undefined;
  volumes: string[] | undefined;
  publish: string[] | undefined;
  network: string | undefined;
  workdir: string | undefined;
  user: string | undefined;
  engine: 'auto' | 'docker' | 'podman' | undefined;
} {
  return {
    entrypoint: flags.entrypoint,
    env: flags.env,
    envFiles: flags['env-file'],
    volumes: flags.volume,
    publish: flags.publish,
    network: flags.network,
    workdir: flags.workdir,
    user: flags.user,
    engine: flags.engine as 'auto' | 'docker' | 'podman' | undefined,
  };
}

/** The arguments after `--` on the command line (they replace the image's CMD). */
export function argsAfterDashDash(argv: readonly string[]): string[] | undefined {
  const i = argv.indexOf('--');
  return i === -1 ? undefined : argv.slice(i + 1);
}
