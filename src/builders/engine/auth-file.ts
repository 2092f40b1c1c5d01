/**
 * Credentials ferry has of its own (ECR tokens) for podman and buildah, which pull base images
 * themselves: an auth file for the one build, passed with --authfile. --authfile (like
 * REGISTRY_AUTH_FILE) makes containers/image read that file only, so it keeps what the user's own
 * files hold (their `auths` and `credHelpers`) and adds ferry's entries.
 *
 * The files containers-auth.json(5) reads without --authfile, first match wins:
 * $REGISTRY_AUTH_FILE alone when set; else $XDG_RUNTIME_DIR/containers/auth.json,
 * $XDG_CONFIG_HOME/containers/auth.json (~/.config), then $DOCKER_CONFIG/config.json
 * (~/.docker/config.json). They are merged in that order, an earlier file's entry winning.
 *
 * containers/image looks credentials up by the registry it contacts: with registries.conf sending
 * a host to another location (registries.HOST.endpoint), that is the location's host, so callers
 * add each entry under both names.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configError } from '../../core/errors.js';
import { registerSecret } from '../../infra/redact.js';

export interface AuthFileInput {
  /** Registry (host[:port]) → credential ferry adds; it replaces any entry of the user's for that key. */
  entries: Readonly<Record<string, { username: string; password: string }>>;
  env: NodeJS.ProcessEnv;
}

interface AuthFileJson {
  auths: Record<string, unknown>;
  credHelpers?: Record<string, string>;
}

/** The files the engine would read on its own, in containers/image's order. */
export function userAuthFiles(env: NodeJS.ProcessEnv): string[] {
  const set = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (set(env['REGISTRY_AUTH_FILE'])) return [env['REGISTRY_AUTH_FILE']];
  const home = set(env['HOME']) ? env['HOME'] : os.homedir();
  return [
    ...(set(env['XDG_RUNTIME_DIR']) ? [path.join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json')] : []),
    path.join(set(env['XDG_CONFIG_HOME']) ? env['XDG_CONFIG_HOME'] : path.join(home, '.config'), 'containers', 'auth.json'),
    path.join(set(env['DOCKER_CONFIG']) ? env['DOCKER_CONFIG'] : path.join(home, '.docker'), 'config.json'),
  ];
}

/** The JSON text of the build's auth file. */
export async function engineAuthFile(input: AuthFileInput): Promise<string> {
  const auths = new Map<string, unknown>();
  const helpers = new Map<string, string>();
  for (const file of userAuthFiles(input.env)) {
    const cfg = await readUserFile(file);
    if (cfg === undefined) continue;
    for (const [k, v] of Object.entries(objectAt(cfg, 'auths'))) if (!auths.has(k)) auths.set(k, v);
    for (const [k, v] of Object.entries(objectAt(cfg, 'credHelpers'))) if (typeof v === 'string' && !helpers.has(k)) helpers.set(k, v);
  }
  for (const [registry, c] of Object.entries(input.entries)) {
    const auth = Buffer.from(`${c.username}:${c.password}`).toString('base64');
    registerSecret(auth);
    // A helper for the same registry would be asked before `auths`, and a namespaced key
    // (host/repo) before the host's: ferry's credential replaces them.
    helpers.delete(registry);
    for (const k of [...auths.keys()]) if (authKeyHost(k) === registry) auths.delete(k);
    auths.set(registry, { auth });
  }
  const out: AuthFileJson = { auths: Object.fromEntries(auths) };
  if (helpers.size > 0) out.credHelpers = Object.fromEntries(helpers);
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** The registry an `auths` key names: "https://index.docker.io/v1/" and "host/ns" keys included. */
function authKeyHost(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0] ?? key;
}

async function readUserFile(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw configError('REGISTRY_CONFIG_UNREADABLE', `cannot read ${file}: ${(e as Error).message}`, { cause: e, where: file });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw configError('REGISTRY_CONFIG_INVALID', `${file} is not valid JSON: ${(e as Error).message}`, { cause: e, where: file, suggestions: [`fix or remove ${file}`] });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configError('REGISTRY_CONFIG_INVALID', `${file} is not a JSON object`, { where: file, suggestions: [`fix or remove ${file}`] });
  }
  return parsed as Record<string, unknown>;
}

function objectAt(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = o[key];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
