/**
 * Where registry credentials come from, first answer wins (ko's keychain order, adapted):
 *   1. explicit credentials from flags (--username / --password-stdin), given by the caller;
 *   2. $REGISTRY_AUTH_FILE, when set (podman/buildah/skopeo's way of naming one file);
 *   3. docker's config.json ($DOCKER_CONFIG/config.json or ~/.docker/config.json): a credential
 *      helper for this registry (credHelpers), else the default store (credsStore), else `auths`;
 *   4. the containers auth.json ($XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json);
 *   5. anonymous.
 * Every secret learnt here is registered for redaction before it is returned.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { authError, configError, FerryError, unavailableError } from '../core/errors.js';
import { DOCKER_HUB, DOCKER_HUB_CONFIG_KEY, normalizeRegistryHost } from '../core/image-ref.js';
import { runProcess } from '../infra/process.js';
import { registerSecret } from '../infra/redact.js';

export type Credential =
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token ("identity token"), exchanged at the token endpoint. */
  | { kind: 'identity-token'; token: string; username?: string }
  /** A registry bearer token used as is (e.g. from a credential helper for a cloud registry). */
  | { kind: 'bearer'; token: string }
  | { kind: 'anonymous' };

export interface ResolvedCredential {
  credential: Credential;
  /** Where it came from, for messages: "flags", "docker config (~/.docker/config.json)", "credential helper docker-credential-pass". */
  source: string;
  /**
   * Credentials that expire and can be fetched anew (ECR's tokens): when to look them up again,
   * and how to drop them once the registry refused them (RegistryAuth does both).
   */
  renewal?: { renewAt: number; invalidate: () => void };
}

/** A source of registry credentials tried before any file (ECR's GetAuthorizationToken). */
export interface CredentialSource {
  credential(): Promise<ResolvedCredential>;
}

export interface CredentialOptions {
  /** Credentials given on the command line, for this registry. */
  explicit?: { username: string; password: string } | undefined;
  env?: NodeJS.ProcessEnv;
  /** Home directory (tests). */
  home?: string;
  /** How credential helpers are run (tests may replace it). Default: docker-credential-<name> get. */
  runHelper?: (helper: string, serverUrl: string, env: NodeJS.ProcessEnv) => Promise<HelperAnswer | undefined>;
  /**
   * ECR hosts: the token from GetAuthorizationToken comes first. When the AWS SDK finds no
   * credentials at all, a docker config entry for the host (docker-credential-ecr-login, or a
   * `docker login` with `aws ecr get-login-password`) is used instead; with neither, the ECR error.
   */
  ecr?: CredentialSource;
}

export interface HelperAnswer {
  username: string;
  secret: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}
interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export const ANONYMOUS: ResolvedCredential = { credential: { kind: 'anonymous' }, source: 'anonymous' };

function remember(c: Credential): Credential {
  if (c.kind === 'basic') {
    registerSecret(c.password);
    registerSecret(Buffer.from(`${c.username}:${c.password}`).toString('base64'));
  } else if (c.kind === 'identity-token' || c.kind === 'bearer') {
    registerSecret(c.token);
  }
  return c;
}

/** Finds credentials for `registry` (as in references: docker.io, ghcr.io, 127.0.0.1:5000). */
export async function resolveCredentials(registry: string, opts: CredentialOptions = {}): Promise<ResolvedCredential> {
  const env = opts.env ?? process.env;
  const home = opts.home ?? env.HOME ?? homedir();
  const host = normalizeRegistryHost(registry);
  if (opts.explicit !== undefined) {
    return { credential: remember({ kind: 'basic', ...opts.explicit }), source: 'flags' };
  }
  if (opts.ecr !== undefined) {
    try {
      return await opts.ecr.credential();
    } catch (e) {
      if (!(e instanceof FerryError) || e.code !== 'ECR_CREDENTIALS_MISSING') throw e;
      const fromFiles = await resolveFromFiles(host, env, home, opts);
      if (fromFiles !== undefined) return fromFiles;
      throw e;
    }
  }
  return (await resolveFromFiles(host, env, home, opts)) ?? ANONYMOUS;
}

async function resolveFromFiles(host: string, env: NodeJS.ProcessEnv, home: string, opts: CredentialOptions): Promise<ResolvedCredential | undefined> {
  const authFile = env.REGISTRY_AUTH_FILE;
  if (authFile !== undefined && authFile !== '') {
    const found = await fromConfigFile(authFile, host, env, opts, 'REGISTRY_AUTH_FILE');
    if (found !== undefined) return found;
  }
  const dockerDir = env.DOCKER_CONFIG !== undefined && env.DOCKER_CONFIG !== '' ? env.DOCKER_CONFIG : join(home, '.docker');
  const docker = await fromConfigFile(join(dockerDir, 'config.json'), host, env, opts, 'docker config');
  if (docker !== undefined) return docker;
  const containerFiles = [
    ...(env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== '' ? [join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json')] : []),
    join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'containers', 'auth.json'),
  ];
  for (const f of containerFiles) {
    const found = await fromConfigFile(f, host, env, opts, 'containers auth.json');
    if (found !== undefined) return found;
  }
  return undefined;
}

async function readConfig(path: string): Promise<DockerConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw configError('REGISTRY_CONFIG_UNREADABLE', `cannot read ${path}: ${(e as Error).message}`, { cause: e, where: path });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed;
  } catch (e) {
    throw configError('REGISTRY_CONFIG_INVALID', `${path} is not valid JSON: ${(e as Error).message}`, {
      cause: e,
      where: path,
      suggestions: [`fix or remove ${path}`],
    });
  }
}

/** The server URL docker passes to credential helpers and uses as the config key. */
export function dockerServerUrl(host: string): string {
  return host === DOCKER_HUB ? DOCKER_HUB_CONFIG_KEY : host;
}

function findByHost<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (map === undefined) return undefined;
  const direct = map[dockerServerUrl(host)] ?? map[host];
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(map)) if (normalizeRegistryHost(k) === host) return v;
  return undefined;
}

async function fromConfigFile(
  path: string,
  host: string,
  env: NodeJS.ProcessEnv,
  opts: CredentialOptions,
  label: string,
): Promise<ResolvedCredential | undefined> {
  const cfg = await readConfig(path);
  if (cfg === undefined) return undefined;
  const helper = findByHost(cfg.credHelpers, host) ?? (cfg.credsStore !== undefined && cfg.credsStore !== '' ? cfg.credsStore : undefined);
  if (helper !== undefined) {
    const run = opts.runHelper ?? runCredentialHelper;
    const answer = await run(helper, dockerServerUrl(host), env);
    if (answer !== undefined) {
      const credential: Credential =
        answer.username === '<token>'
          ? { kind: 'identity-token', token: answer.secret }
          : { kind: 'basic', username: answer.username, password: answer.secret };
      return { credential: remember(credential), source: `credential helper docker-credential-${helper} (${label} ${path})` };
    }
    // "not found" in the helper: docker then has nothing; we still look at `auths`, which a
    // helper-less login may have written, since an anonymous pull is the only alternative.
  }
  const entry = findByHost(cfg.auths, host);
  if (entry === undefined) return undefined;
  const c = entryCredential(entry, path);
  if (c === undefined) return undefined;
  return { credential: remember(c), source: `${label} (${path})` };
}

function entryCredential(e: AuthEntry, path: string): Credential | undefined {
  if (typeof e.identitytoken === 'string' && e.identitytoken !== '') {
    return { kind: 'identity-token', token: e.identitytoken, ...(e.username === undefined ? {} : { username: e.username }) };
  }
  if (typeof e.registrytoken === 'string' && e.registrytoken !== '') return { kind: 'bearer', token: e.registrytoken };
  if (typeof e.auth === 'string' && e.auth !== '') {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw configError('REGISTRY_CONFIG_INVALID', `an "auth" entry in ${path} is not base64 of "username:password"`, {
        where: path,
        suggestions: ['log in again with `docker login` (or ferry with --username and --password-stdin)'],
      });
    }
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof e.username === 'string' && typeof e.password === 'string' && e.username !== '') {
    return { kind: 'basic', username: e.username, password: e.password };
  }
  return undefined;
}

/**
 * docker-credential-<name> get: the server URL on stdin, {"ServerURL","Username","Secret"} on
 * stdout; "credentials not found" (exit 1) means there is nothing for this registry.
 */
export async function runCredentialHelper(helper: string, serverUrl: string, env: NodeJS.ProcessEnv): Promise<HelperAnswer | undefined> {
  const program = `docker-credential-${helper}`;
  let r;
  try {
    r = await runProcess(program, ['get'], { input: serverUrl, env, timeoutMs: 60_000, maxOutputBytes: 1024 * 1024 });
  } catch (e) {
    if (e instanceof FerryError && e.code === 'PROCESS_NOT_FOUND') {
      throw unavailableError('REGISTRY_CREDENTIAL_HELPER_MISSING', `credential helper ${program} is not installed (named in docker config)`, {
        cause: e,
        suggestions: [`install ${program}, or remove it from credHelpers/credsStore in your docker config.json`],
      });
    }
    throw e;
  }
  const out = r.stdout.trim();
  if (r.code !== 0) {
    if (/credentials not found/i.test(out) || /credentials not found/i.test(r.stderr)) return undefined;
    // The helper's output may quote the secret it failed on; say only that it failed.
    throw authError('REGISTRY_CREDENTIAL_HELPER_FAILED', `credential helper ${program} failed (exit ${r.code ?? r.signal ?? '?'}) for ${serverUrl}`, {
      details: { helper: program },
      suggestions: [`run \`echo ${serverUrl} | ${program} get\` to see its error`],
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(out);
  } catch (e) {
    throw authError('REGISTRY_CREDENTIAL_HELPER_FAILED', `credential helper ${program} did not answer JSON`, { cause: e });
  }
  const o = parsed as { Username?: unknown; Secret?: unknown };
  if (typeof o.Secret !== 'string' || o.Secret === '') return undefined;
  registerSecret(o.Secret);
  return { username: typeof o.Username === 'string' ? o.Username : '', secret: o.Secret };
}
