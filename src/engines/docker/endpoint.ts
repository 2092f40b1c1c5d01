/**
 * Where the Docker Engine API is, found the way the docker CLI finds it:
 *   1. DOCKER_HOST (unix:///path or tcp://host:port; TLS with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH);
 *   2. DOCKER_CONTEXT, else `currentContext` in $DOCKER_CONFIG/config.json (default ~/.docker):
 *      the context's endpoint is in contexts/meta/<sha256 of its name>/meta.json, its TLS files
 *      in contexts/tls/<sha256 of its name>/docker/{ca,cert,key}.pem;
 *   3. the default socket, /var/run/docker.sock.
 * The first source that is set decides (as in the docker CLI: a DOCKER_HOST wins over a context, a
 * broken context is an error rather than a silent fall-back). Every step is recorded in `tried`,
 * so "no engine" can say what was looked at. Nothing here connects; the client does.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configError } from '../../core/errors.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export interface TlsFiles {
  /** PEM text, not paths: read once here so the client never touches the files again. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Verify the server's certificate (DOCKER_TLS_VERIFY, or a context without SkipTLSVerify). */
  verify: boolean;
}

export type DockerEndpoint =
  | { kind: 'unix'; socketPath: string; source: string }
  | { kind: 'tcp'; host: string; port: number; tls: TlsFiles | undefined; source: string };

export interface EndpointDiscovery {
  endpoint: DockerEndpoint;
  /** What was looked at, in order, for messages: "DOCKER_HOST (not set)", "context \"x\" (…)". */
  tried: string[];
}

export function describeEndpoint(e: DockerEndpoint): string {
  return e.kind === 'unix' ? `unix://${e.socketPath}` : `${e.tls === undefined ? 'tcp' : 'https'}://${e.host}:${e.port}`;
}

/** The docker CLI's configuration directory: $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(env: NodeJS.ProcessEnv): string {
  const d = env['DOCKER_CONFIG'];
  if (d !== undefined && d !== '') return d;
  return path.join(env['HOME'] ?? os.homedir(), '.docker');
}

/** Contexts live under a directory named by the sha256 of their name (docker/cli context/store). */
export function contextDirName(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

export async function discoverDockerEndpoint(env: NodeJS.ProcessEnv): Promise<EndpointDiscovery> {
  const tried: string[] = [];
  const host = nonEmpty(env['DOCKER_HOST']);
  if (host !== undefined) {
    tried.push(`DOCKER_HOST=${host}`);
    return { endpoint: await parseDockerHost(host, env, 'DOCKER_HOST'), tried };
  }
  tried.push('DOCKER_HOST (not set)');

  const configDir = dockerConfigDir(env);
  let contextName = nonEmpty(env['DOCKER_CONTEXT']);
  let contextFrom = 'DOCKER_CONTEXT';
  if (contextName === undefined) {
    tried.push('DOCKER_CONTEXT (not set)');
    const configFile = path.join(configDir, 'config.json');
    const current = await readCurrentContext(configFile);
    if (current === undefined) tried.push(`currentContext in ${configFile} (not set)`);
    else {
      contextName = current;
      contextFrom = `currentContext in ${configFile}`;
    }
  }
  if (contextName !== undefined && contextName !== 'default') {
    tried.push(`context "${contextName}" (${contextFrom})`);
    return { endpoint: await contextEndpoint(contextName, contextFrom, configDir, env), tried };
  }
  if (contextName === 'default') tried.push(`context "default" (${contextFrom}): the default socket`);
  tried.push(`the default socket ${DEFAULT_DOCKER_SOCKET}`);
  return { endpoint: { kind: 'unix', socketPath: DEFAULT_DOCKER_SOCKET, source: 'default socket' }, tried };
}

/** `unix:///path`, `tcp://host[:port]` (also `host:port` alone, as the docker CLI accepts). */
export async function parseDockerHost(value: string, env: NodeJS.ProcessEnv, source: string, contextTls?: TlsFiles): Promise<DockerEndpoint> {
  const bad = (why: string): Error =>
    configError('ENGINE_BAD_HOST', `${source}: ${value} ${why}`, {
      where: source,
      suggestions: ['use unix:///var/run/docker.sock or tcp://HOST:PORT', 'for an ssh:// engine, forward its socket first: ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST, then DOCKER_HOST=unix:///tmp/docker.sock'],
    });
  if (value.startsWith('unix://')) {
    const p = value.slice('unix://'.length);
    if (p === '' || !p.startsWith('/')) throw bad('is not unix:///ABSOLUTE/PATH');
    return { kind: 'unix', socketPath: p, source };
  }
  const withScheme = /^[a-z]+:\/\//.test(value) ? value : `tcp://${value}`;
  const scheme = withScheme.slice(0, withScheme.indexOf(':'));
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw bad(`uses "${scheme}://", which ferry does not speak (it speaks unix:// and tcp://)`);
  }
  let url: URL;
  try {
    url = new URL(withScheme.replace(/^[a-z]+:/, 'http:'));
  } catch {
    throw bad('is not a valid address');
  }
  if (url.hostname === '' || (url.pathname !== '/' && url.pathname !== '')) throw bad('is not tcp://HOST[:PORT]');
  const tlsVerify = nonEmpty(env['DOCKER_TLS_VERIFY']) !== undefined;
  const tls = contextTls ?? (tlsVerify || scheme === 'https' ? await envTls(env, tlsVerify) : undefined);
  const port = url.port !== '' ? Number(url.port) : tls !== undefined ? 2376 : 2375;
  return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port, tls, source };
}

/** DOCKER_CERT_PATH (default ~/.docker) holds ca.pem, cert.pem and key.pem, as for the docker CLI. */
async function envTls(env: NodeJS.ProcessEnv, verify: boolean): Promise<TlsFiles> {
  const dir = nonEmpty(env['DOCKER_CERT_PATH']) ?? dockerConfigDir(env);
  const where = nonEmpty(env['DOCKER_CERT_PATH']) !== undefined ? 'DOCKER_CERT_PATH' : dir;
  const files: TlsFiles = { verify };
  const ca = await readPem(path.join(dir, 'ca.pem'));
  const cert = await readPem(path.join(dir, 'cert.pem'));
  const key = await readPem(path.join(dir, 'key.pem'));
  if (verify && ca === undefined) {
    throw configError('ENGINE_TLS_FILES', `DOCKER_TLS_VERIFY is set, but ${path.join(dir, 'ca.pem')} cannot be read`, {
      where,
      suggestions: ['point DOCKER_CERT_PATH at the folder with ca.pem, cert.pem and key.pem', 'or unset DOCKER_TLS_VERIFY for a plain tcp:// engine on a trusted network'],
    });
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw configError('ENGINE_TLS_FILES', `${dir} has only one of cert.pem and key.pem; a client certificate needs both`, {
      where,
      suggestions: ['put both cert.pem and key.pem in DOCKER_CERT_PATH, or neither'],
    });
  }
  if (ca !== undefined) files.ca = ca;
  if (cert !== undefined) files.cert = cert;
  if (key !== undefined) files.key = key;
  return files;
}

interface ContextMeta {
  Name?: unknown;
  Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } };
}

async function contextEndpoint(name: string, from: string, configDir: string, env: NodeJS.ProcessEnv): Promise<DockerEndpoint> {
  const id = contextDirName(name);
  const metaFile = path.join(configDir, 'contexts', 'meta', id, 'meta.json');
  let meta: ContextMeta;
  try {
    meta = JSON.parse(await readFile(metaFile, 'utf8')) as ContextMeta;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw configError(
      'ENGINE_CONTEXT_NOT_FOUND',
      code === 'ENOENT' ? `docker context "${name}" (from ${from}) does not exist: no ${metaFile}` : `docker context "${name}": ${metaFile} is not readable JSON`,
      {
        where: from === 'DOCKER_CONTEXT' ? 'DOCKER_CONTEXT' : metaFile,
        cause: e,
        suggestions: ['list contexts with `docker context ls`; pick one with `docker context use NAME`', `or unset ${from === 'DOCKER_CONTEXT' ? 'DOCKER_CONTEXT' : 'currentContext'} to use the default socket`],
      },
    );
  }
  const host = meta.Endpoints?.docker?.Host;
  if (typeof host !== 'string' || host === '') {
    throw configError('ENGINE_CONTEXT_NOT_FOUND', `docker context "${name}" has no docker endpoint (Endpoints.docker.Host in ${metaFile})`, {
      where: metaFile,
      suggestions: ['recreate it: docker context create NAME --docker host=unix:///PATH'],
    });
  }
  const tlsDir = path.join(configDir, 'contexts', 'tls', id, 'docker');
  const ca = await readPem(path.join(tlsDir, 'ca.pem'));
  const cert = await readPem(path.join(tlsDir, 'cert.pem'));
  const key = await readPem(path.join(tlsDir, 'key.pem'));
  const skip = meta.Endpoints?.docker?.SkipTLSVerify === true;
  let tls: TlsFiles | undefined;
  if (ca !== undefined || cert !== undefined || host.startsWith('https://')) {
    tls = { verify: !skip };
    if (ca !== undefined) tls.ca = ca;
    if (cert !== undefined && key !== undefined) {
      tls.cert = cert;
      tls.key = key;
    }
  }
  return parseDockerHost(host, env, `context "${name}"`, tls);
}

async function readCurrentContext(configFile: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(configFile, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = (JSON.parse(text) as { currentContext?: unknown }).currentContext;
    return typeof v === 'string' && v !== '' ? v : undefined;
  } catch {
    // A broken config.json is the credentials code's to report (REGISTRY_CONFIG_INVALID); for the
    // engine it only means "no current context", as for the docker CLI's own fall-back.
    return undefined;
  }
}

async function readPem(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
