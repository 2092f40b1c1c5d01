/**
 * The local target's value formats, parsed as the docker CLI parses them, so a `docker run` line
 * carries over: `-v SRC:DST[:ro]`, `-p [IP:][HOST:]CONTAINER[/PROTO]`, `-e KEY[=VALUE]` and
 * `--env-file` files. Pure functions: the file reading and existence checks are the caller's.
 * Errors carry the `kind` of their origin: a flag is a usage error (64), ferry.yaml a
 * configuration error (78).
 */
import path from 'node:path';
import { FerryError, ExitCode } from '../../core/errors.js';

export type Origin = { kind: 'flag'; where: string } | { kind: 'config'; where: string };

const exitOf = (o: Origin): number => (o.kind === 'flag' ? ExitCode.USAGE : ExitCode.CONFIG);

export interface VolumeSpec {
  /** An absolute host path, or a named volume (docker's rule: no "/" and not starting with "."). */
  source: string;
  named: boolean;
  target: string;
  readOnly: boolean;
  /** SELinux relabel options (z, Z), passed on. */
  options: string[];
}

const NAMED_VOLUME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** `SRC:DST[:OPTS]`; a relative SRC (./data, data/x, ../x, ~/x) resolves against `baseDir`. */
export function parseVolume(spec: string, baseDir: string, origin: Origin, home?: string): VolumeSpec {
  const bad = (why: string): FerryError =>
    new FerryError(origin.kind === 'flag' ? 'USAGE_BAD_VOLUME' : 'CONFIG_INVALID', `volume "${spec}" ${why}`, {
      exitCode: exitOf(origin),
      where: origin.where,
      suggestions: ['write SRC:DST or SRC:DST:ro, e.g. -v ./data:/data:ro (SRC a host path or a volume name, DST an absolute path in the container)'],
    });
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) throw bad('is not SRC:DST[:ro]');
  const [src = '', dst = '', opts = ''] = parts;
  if (src === '') throw bad('has no source');
  if (!dst.startsWith('/')) throw bad(`has a container path "${dst}" that is not absolute`);
  const options = opts === '' ? [] : opts.split(',');
  let readOnly = false;
  const passOn: string[] = [];
  for (const o of options) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'z' || o === 'Z') passOn.push(o);
    else throw bad(`has an unknown option "${o}" (ro, rw, z or Z)`);
  }
  const isPath = src.includes('/') || src.startsWith('.') || src.startsWith('~');
  if (!isPath) {
    if (!NAMED_VOLUME_RE.test(src)) throw bad(`has a source "${src}" that is neither a path nor a volume name`);
    return { source: src, named: true, target: dst, readOnly, options: passOn };
  }
  const expanded = src === '~' || src.startsWith('~/') ? path.join(home ?? '/', src.slice(1)) : src;
  return { source: path.resolve(baseDir, expanded), named: false, target: path.posix.normalize(dst), readOnly, options: passOn };
}

/** The `-v` form engines take: SRC:DST[:ro][,z]. */
export function bindString(v: VolumeSpec): string {
  const opts = [...(v.readOnly ? ['ro'] : []), ...v.options];
  return `${v.source}:${v.target}${opts.length > 0 ? `:${opts.join(',')}` : ''}`;
}

export interface PortSpec {
  hostIp?: string;
  /** undefined: the engine picks a free port. */
  hostPort?: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/** `[[IP:]HOST:]CONTAINER[/PROTO]`, IPv6 addresses in brackets: `[::1]:8080:80`. */
export function parsePublish(spec: string, origin: Origin): PortSpec {
  const bad = (why: string): FerryError =>
    new FerryError(origin.kind === 'flag' ? 'USAGE_BAD_PUBLISH' : 'CONFIG_INVALID', `port "${spec}" ${why}`, {
      exitCode: exitOf(origin),
      where: origin.where,
      suggestions: ['write CONTAINER, HOST:CONTAINER or IP:HOST:CONTAINER, optionally with /tcp or /udp, e.g. -p 8080:80'],
    });
  let rest = spec;
  let protocol: PortSpec['protocol'] = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash !== -1) {
    const p = rest.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw bad(`has an unknown protocol "${p}" (tcp, udp or sctp)`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  if (v6 !== null) {
    hostIp = v6[1];
    rest = v6[2] ?? '';
  }
  const parts = rest.split(':');
  if (hostIp === undefined && parts.length === 3) {
    hostIp = parts.shift();
    if (hostIp === undefined || !/^\d{1,3}(\.\d{1,3}){3}$/.test(hostIp)) throw bad(`has a host address "${hostIp ?? ''}" that is not an IP address`);
  }
  if (parts.length > 2 || parts.length === 0) throw bad('is not [IP:][HOST:]CONTAINER');
  const port = (s: string, what: string): number => {
    if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw bad(`has a ${what} port "${s}" that is not a number from 1 to 65535`);
    return Number(s);
  };
  const containerPort = port(parts[parts.length - 1] ?? '', 'container');
  const hostText = parts.length === 2 ? (parts[0] ?? '') : '';
  const out: PortSpec = { containerPort, protocol };
  if (hostIp !== undefined) out.hostIp = hostIp;
  if (hostText !== '') out.hostPort = port(hostText, 'host');
  return out;
}

/** The `-p` form engines take. */
export function publishString(p: PortSpec): string {
  const ip = p.hostIp === undefined ? '' : p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`;
  const host = p.hostPort === undefined ? (ip === '' ? '' : ':') : String(p.hostPort);
  return `${ip}${host}${host === '' && ip === '' ? '' : ':'}${p.containerPort}/${p.protocol}`.replace(/^:/, '');
}

/**
 * `-e KEY=VALUE`, or `-e KEY` to pass ferry's own value of KEY (dropped when ferry has none, as
 * docker does). Returns [key, value] or undefined (dropped).
 */
export function parseEnvItem(item: string, env: NodeJS.ProcessEnv, origin: Origin): [string, string] | undefined {
  const eq = item.indexOf('=');
  const key = eq === -1 ? item : item.slice(0, eq);
  if (key === '' || /\s/.test(key)) {
    throw new FerryError(origin.kind === 'flag' ? 'USAGE_BAD_ENV' : 'CONFIG_INVALID', `environment variable "${item}" has ${key === '' ? 'no name' : 'white space in its name'}`, {
      exitCode: exitOf(origin),
      where: origin.where,
      suggestions: ['write KEY=VALUE, or KEY alone to pass on ferry\'s own value'],
    });
  }
  if (eq !== -1) return [key, item.slice(eq + 1)];
  const v = env[key];
  return v === undefined ? undefined : [key, v];
}

/**
 * docker's env-file format (docker/cli opts/envfile.go): one KEY=VALUE per line, taken literally
 * (no quotes removed, no variables expanded, trailing spaces kept); leading white space is
 * ignored; blank lines and lines starting with # are skipped; a line with a name alone passes on
 * ferry's own value of it (or nothing). A name with white space in it, or a line with no name, is
 * an error naming file:line.
 */
export function parseEnvFile(text: string, display: string, env: NodeJS.ProcessEnv, origin: Origin): [string, string][] {
  const out: [string, string][] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^[ \t\n\v\f\r]+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq === -1 ? line : line.slice(0, eq);
    const fail = (why: string): FerryError =>
      new FerryError('ENV_FILE_INVALID', `${display}:${i + 1}: ${why}`, {
        exitCode: exitOf(origin),
        where: `${display}:${i + 1}`,
        suggestions: ['each line is KEY=VALUE (taken literally, no quotes needed), KEY alone, a # comment, or blank'],
      });
    if (key === '') throw fail('a line with no variable name');
    if (/[ \t\n\v\f\r]/.test(key)) throw fail(`variable "${key}" has white space in its name`);
    if (eq !== -1) out.push([key, line.slice(eq + 1)]);
    else {
      const v = env[key];
      if (v !== undefined) out.push([key, v]);
    }
  });
  return out;
}
