/**
 * buildah and podman read mirrors and insecure registries from containers-registries.conf(5), not
 * from flags. When ferry.yaml names mirrors or insecure registries, ferry writes a registries.conf
 * for the one build (pointed at by CONTAINERS_REGISTRIES_CONF) that keeps the user's own file and
 * adds ferry's entries, so `FROM python:3.9` is pulled through `docker.io: 127.0.0.1:5000/mirror`
 * exactly as the native builder reads it.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface RegistriesConfInput {
  mirrors?: Readonly<Record<string, string | readonly string[]>> | undefined;
  /** Hosts (host[:port]) to reach over plain HTTP or without TLS verification. */
  insecure: readonly string[];
  /**
   * registries.HOST.endpoint: host → the URL ferry.yaml sends that host's traffic to. Written as
   * `[[registry]] prefix = HOST, location = endpoint`, insecure when the endpoint is http:// or
   * either name is insecure; image names (and the build's FROM lines) keep HOST.
   */
  endpoints?: Readonly<Record<string, string>> | undefined;
  env: NodeJS.ProcessEnv;
}

/** Where registries.conf sends an endpoint's traffic: host[:port][/path], no scheme. */
export function endpointLocation(endpoint: string): { location: string; host: string; plainHttp: boolean } {
  const u = new URL(endpoint);
  const p = u.pathname.replace(/\/+$/, '');
  return { location: `${u.host}${p}`, host: u.host, plainHttp: u.protocol === 'http:' };
}

/** The text of registries.conf for the build, or undefined when ferry has nothing to add. */
export async function registriesConf(input: RegistriesConfInput): Promise<string | undefined> {
  const mirrors = Object.entries(input.mirrors ?? {});
  const endpoints = new Map(Object.entries(input.endpoints ?? {}).map(([h, e]) => [h, endpointLocation(e)]));
  if (mirrors.length === 0 && input.insecure.length === 0 && endpoints.size === 0) return undefined;
  const user = await userConf(input.env);
  const insecure = new Set(input.insecure);
  const hostOf = (location: string): string => location.split('/')[0] ?? location;
  const top: string[] = ['# written by ferry for one build; the user\'s registries.conf follows'];
  // Without search registries, buildah refuses `FROM python:3.9`; Docker reads it as docker.io's.
  if (!/^\s*unqualified-search-registries\s*=/m.test(user)) top.push('unqualified-search-registries = ["docker.io"]');
  const tables: string[] = [];
  const described = new Set<string>();
  /** The registry itself, or the endpoint ferry.yaml names for it. */
  const registryTable = (registry: string): string[] => {
    const ep = endpoints.get(registry);
    const location = ep?.location ?? registry;
    const isInsecure = insecure.has(registry) || (ep !== undefined && (ep.plainHttp || insecure.has(ep.host)));
    return ['[[registry]]', `prefix = ${q(registry)}`, `location = ${q(location)}`, ...(isInsecure ? ['insecure = true'] : [])];
  };
  for (const [registry, target] of mirrors) {
    const list = typeof target === 'string' ? [target] : [...target];
    tables.push(...registryTable(registry));
    for (const m of list) tables.push('[[registry.mirror]]', `location = ${q(m)}`, ...(insecure.has(hostOf(m)) ? ['insecure = true'] : []));
    described.add(registry);
  }
  for (const registry of endpoints.keys()) {
    if (described.has(registry)) continue;
    tables.push(...registryTable(registry));
    described.add(registry);
  }
  for (const host of insecure) {
    if (described.has(host)) continue;
    tables.push('[[registry]]', `location = ${q(host)}`, 'insecure = true');
  }
  return [...top, '', user.trimEnd(), '', '# added by ferry', ...tables, ''].join('\n');
}

/** The registries.conf the engine would read on its own (containers-registries.conf(5) order). */
async function userConf(env: NodeJS.ProcessEnv): Promise<string> {
  const candidates = [
    env['CONTAINERS_REGISTRIES_CONF'],
    path.join(env['XDG_CONFIG_HOME'] ?? path.join(env['HOME'] ?? os.homedir(), '.config'), 'containers', 'registries.conf'),
    '/etc/containers/registries.conf',
  ];
  for (const c of candidates) {
    if (c === undefined || c === '') continue;
    try {
      return await readFile(c, 'utf8');
    } catch {
      // not there: the next one
    }
  }
  return '';
}

function q(s: string): string {
  return JSON.stringify(s);
}
