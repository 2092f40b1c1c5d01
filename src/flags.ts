import { Flags } from '@oclif/core';
import { usageError, type FerryError } from './core/errors.js';
import type { BuilderKind } from './builders/index.js';
import type { BuildSecret } from './builders/engine/types.js';
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
  builder: Flags.string({
    description: 'Who builds: auto (native when the Dockerfile allows; else an engine for the part up to the last RUN and native after it; else the first usable engine: docker, podman, buildah), native, docker, podman or buildah. Default from image.builder.',
    options: ['auto', 'native', 'docker', 'podman', 'buildah'],
    env: 'FERRY_BUILDER',
    helpValue: 'KIND',
  }),
  label: Flags.string({ description: 'Add a label to the image (repeatable); wins over image.labels.', multiple: true, helpValue: 'KEY=VALUE' }),
  secret: Flags.string({
    description: 'Give a build secret to RUN --mount=type=secret steps (engine builders; repeatable). Never stored in the image.',
    multiple: true,
    helpValue: 'id=ID,src=PATH|id=ID,env=VAR',
  }),
  ssh: Flags.string({ description: 'Forward an SSH agent or keys to RUN --mount=type=ssh steps (podman, buildah; repeatable).', multiple: true, helpValue: 'default|ID=PATH' }),
};

export const registryFlags = {
  username: Flags.string({ description: 'Registry user name (with --password-stdin); otherwise docker config and credential helpers are used.', env: 'FERRY_REGISTRY_USERNAME' }),
  'password-stdin': Flags.boolean({ description: 'Read the registry password or token from stdin.' }),
  'insecure-registry': Flags.string({ description: 'Talk plain HTTP to this registry host (repeatable); same as registries.HOST.insecure.', multiple: true, helpValue: 'HOST' }),
};

/** `--build-arg KEY=VALUE` (repeatable) as a map; a value without "=" is a usage error. */
export function parseBuildArgs(items: string[] | undefined): Record<string, string> {
  return parseKeyValues(items, '--build-arg', 'USAGE_BAD_BUILD_ARG');
}

/** Repeatable `KEY=VALUE` flag values as a map; a value without "=" is the usage error `code`. */
export function parseKeyValues(items: string[] | undefined, flag: string, code: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw usageError(code, `${flag} ${item} is not KEY=VALUE`, {
        where: flag,
        suggestions: [`write it as ${flag} KEY=VALUE`],
      });
    }
    values[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return values;
}

/**
 * `--secret id=ID,src=PATH` or `id=ID,env=VAR` (docker build's syntax; `type=file|env` and
 * `source=` are accepted too). Only the shape is checked here; the build checks that src exists.
 */
export function parseSecrets(items: string[] | undefined): BuildSecret[] {
  const out: BuildSecret[] = [];
  const seen = new Set<string>();
  for (const item of items ?? []) {
    const fields = new Map<string, string>();
    for (const part of item.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw badSecret(item, `"${part}" is not KEY=VALUE`);
      const key = part.slice(0, eq).trim();
      if (!['id', 'src', 'source', 'env', 'type'].includes(key)) throw badSecret(item, `unknown field "${key}"`);
      fields.set(key === 'source' ? 'src' : key, part.slice(eq + 1));
    }
    const type = fields.get('type');
    if (type !== undefined && type !== 'file' && type !== 'env') throw badSecret(item, `type must be file or env, not "${type}"`);
    const id = fields.get('id') ?? (type === 'env' ? fields.get('env') : undefined);
    if (id === undefined || !/^[A-Za-z0-9_.-]+$/.test(id)) throw badSecret(item, 'it needs id=NAME (letters, digits, _ . -)');
    if (seen.has(id)) throw badSecret(item, `secret id "${id}" is given twice`);
    seen.add(id);
    const src = fields.get('src');
    const env = fields.get('env');
    if ((src === undefined) === (env === undefined && type !== 'env')) throw badSecret(item, 'give exactly one of src=PATH or env=VAR');
    out.push(src !== undefined ? { id, src } : { id, env: env ?? id });
  }
  return out;
}

function badSecret(item: string, why: string): FerryError {
  // The value may name a path or a variable, never the secret itself: safe to show.
  return usageError('USAGE_BAD_SECRET', `--secret ${item}: ${why}`, {
    where: '--secret',
    suggestions: ['write --secret id=NAME,src=PATH (a file) or --secret id=NAME,env=VAR (an environment variable)'],
  });
}

/** `--ssh default` (the agent at SSH_AUTH_SOCK) or `--ssh ID=PATH[,PATH…]` (agent sockets or keys). */
export function parseSsh(items: string[] | undefined): string[] {
  for (const item of items ?? []) {
    if (!/^(default|[A-Za-z0-9_.-]+)(=[^=]+)?$/.test(item)) {
      throw usageError('USAGE_BAD_SSH', `--ssh ${item} is not "default" or ID=PATH[,PATH]`, {
        where: '--ssh',
        suggestions: ['write --ssh default (forwards the agent at SSH_AUTH_SOCK) or --ssh ID=PATH'],
      });
    }
  }
  return [...(items ?? [])];
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
  builder?: string | undefined;
  label?: string[] | undefined;
  secret?: string[] | undefined;
  ssh?: string[] | undefined;
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
    builder: flags.builder as BuilderKind | undefined,
    labels: parseKeyValues(flags.label, '--label', 'USAGE_BAD_LABEL'),
    secrets: parseSecrets(flags.secret),
    ssh: parseSsh(flags.ssh),
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

/** `deploy --invoke [--payload FILE|-]`: targets that can be invoked (aws-lambda). Their own const, so deploy spreads them in. */
export const invokeFlags = {
  invoke: Flags.boolean({ description: 'After the deploy is ready, invoke it once (aws-lambda: a RequestResponse call), print its response on stdout and its log tail on stderr; a function error exits non-zero.' }),
  payload: Flags.string({ description: 'The JSON event for --invoke: a file, or - for stdin.', helpValue: 'FILE' }),
};

/** The invoke options from parsed `invokeFlags`. */
export function invokeOptions(flags: { invoke: boolean; payload?: string | undefined }): { invoke: boolean; payloadFile: string | undefined } {
  return { invoke: flags.invoke, payloadFile: flags.payload };
}

/** The arguments after `--` on the command line (they replace the image's CMD). */
export function argsAfterDashDash(argv: readonly string[]): string[] | undefined {
  const i = argv.indexOf('--');
  return i === -1 ? undefined : argv.slice(i + 1);
}

/** `status`, `logs`, `cancel`: which run. */
export const runRefFlags = {
  id: Flags.string({ description: 'The run: the id `ferry deploy` printed (handle.id in its --json), a unique start of it, or the platform\'s own id (a Batch job id).', helpValue: 'ID' }),
  last: Flags.boolean({ description: 'The newest run ferry recorded (handles are kept in $FERRY_STATE_DIR, else $XDG_STATE_HOME/ferry, else ~/.local/state/ferry).' }),
};

/** `deploy`: whether to wait, and what Ctrl-C during the wait does to a remote run. */
export const waitFlags = {
  async: Flags.boolean({ description: 'Return as soon as the run is submitted, with its id; follow it later with ferry status/logs/cancel --id ID (or --last).' }),
  'detach-on-interrupt': Flags.boolean({
    description: 'Ctrl-C while waiting stops ferry waiting and leaves the run going, printing how to cancel it (the default for remote targets).',
    exclusive: ['cancel-on-interrupt'],
  }),
  'cancel-on-interrupt': Flags.boolean({ description: 'Ctrl-C while waiting cancels the run (a local run is always stopped).', exclusive: ['detach-on-interrupt'] }),
};

/** The wait options from parsed `waitFlags`. */
export function waitOptions(flags: { async?: boolean | undefined; 'detach-on-interrupt'?: boolean | undefined; 'cancel-on-interrupt'?: boolean | undefined }): {
  async: boolean | undefined;
  onInterrupt: 'detach' | 'cancel' | undefined;
} {
  return {
    async: flags.async === true ? true : undefined,
    onInterrupt: flags['cancel-on-interrupt'] === true ? 'cancel' : flags['detach-on-interrupt'] === true ? 'detach' : undefined,
  };
}

/** `plan/deploy --render DIR`: write the manifests for GitOps instead of applying them (kinds with render). */
export const renderFlags = {
  render: Flags.string({
    description: 'Write the manifests deploy would apply to DIR/<target>.yaml (- for stdout) instead of applying them, for GitOps. deploy --render pushes the image first; plan --render does not. Kinds with render in `ferry targets` only.',
    helpValue: 'DIR',
  }),
};

/** The render option from parsed `renderFlags`. */
export function renderOptions(flags: { render?: string | undefined }): { render: string | undefined } {
  return { render: flags.render };
}

/** `deploy --each` and `plan --each`: one deploy fanned out over values (parsed and checked by services/each.ts). */
export const eachFlags = {
  each: Flags.string({
    description:
      'Fan the deploy out over values, as one AWS Batch array job: child i runs with KEY set to the i-th value (and FERRY_EACH_INDEX, FERRY_EACH_VALUE), through a /bin/sh wrapper; an image with an ENTRYPOINT or without /bin/sh gets only AWS_BATCH_JOB_ARRAY_INDEX and FERRY_EACH_VALUES (the values, one a line) and picks its own. Values are taken literally, split on commas; one key per deploy.',
    multiple: true,
    // `--each K=a,b nightly`: the target name after it is the argument, not a second --each.
    multipleNonGreedy: true,
    helpValue: 'KEY=V1,V2,…',
  }),
  'each-file': Flags.string({
    description:
      'As --each, with the values read from a file: one a line (trimmed; blank lines and # comments skipped), or a JSON array (.json) or YAML list (.yaml, .yml) for values with commas or surrounding spaces.',
    multiple: true,
    multipleNonGreedy: true,
    helpValue: 'KEY=PATH',
  }),
};

/** The raw `--each` / `--each-file` values, for services/each.ts. */
export function eachOptions(flags: { each?: string[] | undefined; 'each-file'?: string[] | undefined }): { each: string[] | undefined; eachFile: string[] | undefined } {
  return { each: flags.each, eachFile: flags['each-file'] };
}
