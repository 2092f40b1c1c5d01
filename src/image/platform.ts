/**
 * Platforms (`os/arch[/variant]`), normalised the way containerd does it, so that "x86_64",
 * "aarch64/v8" and "armhf" mean what Docker users expect, and choosing an image from an index
 * agrees with what `docker pull --platform` would choose.
 *
 * Errors are IMAGE_BAD_PLATFORM. The same string can come from a Dockerfile (`FROM --platform`:
 * bad input data, 65), from ferry.yaml (configuration, 78) or from a flag (usage, 64); this module
 * cannot tell which, so the caller says (`kind`), and the default is data, since a platform that
 * fails to parse in the middle of a build is most often a Dockerfile's.
 */
import { arch as osArch, endianness } from 'node:os';
import { configError, dataError, usageError, type FerryError } from '../core/errors.js';
import { nearest } from '../core/suggest.js';
import type { Platform } from './types.js';

/** ferry's default target: what Lambda, Batch and most clusters run. */
export const DEFAULT_PLATFORM: Readonly<Platform> = Object.freeze({ os: 'linux', architecture: 'amd64' });

// From Go's list of GOOS/GOARCH values, as containerd uses it.
const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos']);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le',
  'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
]);
// Spellings that normalise to a known arch; accepted from users too.
const ARCH_ALIASES = new Set(['i386', 'x86_64', 'x86-64', 'aarch64', 'armhf', 'armel']);

const OS_RE = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$/;
const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

export interface PlatformParseOptions {
  /** Where the string came from: "Dockerfile:3", "ferry.yaml:4:13 (image.platform)", "--platform". */
  where?: string;
  /** Which exit code a bad string gets (see the module comment). Default 'data'. */
  kind?: 'data' | 'config' | 'usage';
  /** What a lone "linux" or "arm64" is completed with. Default linux/amd64. */
  defaults?: { os: string; architecture: string };
}

/** Parse and normalise `os[(osversion)]/arch[/variant]`, or a lone os or arch. */
export function parsePlatform(spec: string, opts: PlatformParseOptions = {}): Platform {
  const fail = (message: string, suggestion?: string): FerryError => platformError(`invalid platform ${JSON.stringify(spec)}: ${message}`, opts, suggestion);
  const s = spec.trim();
  if (s === '') throw fail('it is empty');
  if (s.includes('*')) throw fail('wildcards are not supported');
  const parts = s.split('/');
  if (parts.length > 3) throw fail('expected os/arch or os/arch/variant');
  const osMatch = OS_RE.exec(parts[0] ?? '');
  if (osMatch === null) throw fail(`${JSON.stringify(parts[0])} is not a valid operating system`);
  for (const part of parts.slice(1)) {
    if (!COMPONENT_RE.test(part)) throw fail(`${JSON.stringify(part)} may only contain letters, digits, "_", "." and "-"`);
  }
  const defaults = opts.defaults ?? DEFAULT_PLATFORM;
  const osName = (osMatch[1] ?? '').toLowerCase();
  const osVersion = osMatch[2];

  let p: Platform;
  if (parts.length === 1) {
    if (KNOWN_OS.has(normalizeOs(osName))) {
      p = { os: osName, architecture: defaults.architecture };
    } else if (osVersion === undefined && (KNOWN_ARCH.has(osName) || ARCH_ALIASES.has(osName))) {
      p = { os: defaults.os, architecture: osName };
    } else {
      throw fail('not a known operating system or architecture', nearestHint(osName, [...KNOWN_OS, ...KNOWN_ARCH]));
    }
  } else {
    p = { os: osName, architecture: parts[1] ?? '' };
    if (parts[2] !== undefined) p.variant = parts[2];
  }
  if (osVersion !== undefined && osVersion !== '') p['os.version'] = osVersion;
  const n = normalizePlatform(p);
  if (!KNOWN_OS.has(n.os)) throw fail(`${JSON.stringify(n.os)} is not a known operating system`, nearestHint(n.os, [...KNOWN_OS]));
  if (!KNOWN_ARCH.has(n.architecture)) throw fail(`${JSON.stringify(n.architecture)} is not a known architecture`, nearestHint(n.architecture, [...KNOWN_ARCH, ...ARCH_ALIASES]));
  return n;
}

function platformError(message: string, opts: PlatformParseOptions, suggestion?: string): FerryError {
  const o = {
    ...(opts.where === undefined ? {} : { where: opts.where }),
    suggestions: [...(suggestion === undefined ? [] : [suggestion]), 'platforms look like linux/amd64, linux/arm64 or linux/arm/v7'],
  };
  switch (opts.kind ?? 'data') {
    case 'config':
      return configError('IMAGE_BAD_PLATFORM', message, o);
    case 'usage':
      return usageError('IMAGE_BAD_PLATFORM', message, o);
    case 'data':
      return dataError('IMAGE_BAD_PLATFORM', message, o);
  }
}

function normalizeOs(os: string): string {
  const o = os.toLowerCase();
  return o === 'macos' ? 'darwin' : o;
}

/** containerd's normalizeArch: canonical arch, and the variant that goes with it ('' = none). */
function normalizeArch(arch: string, variant: string): [string, string] {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      return ['386', ''];
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return ['amd64', v === 'v1' ? '' : v];
    case 'aarch64':
    case 'arm64':
      // v8 is the baseline of arm64, so "arm64", "arm64/v8" and "aarch64/8" are one platform.
      return ['arm64', v === '8' || v === 'v8' ? '' : v];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      if (v === '' || v === '7') return ['arm', 'v7'];
      if (v === '5' || v === '6' || v === '8') return ['arm', `v${v}`];
      return ['arm', v];
    default:
      return [a, v];
  }
}

/**
 * The canonical form: lowercase, aliases resolved, baseline variants dropped (amd64 v1, arm64 v8)
 * and 32-bit arm's implied v7 made explicit. Two platforms are the same iff their normal forms are.
 */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os: normalizeOs(p.os), architecture };
  if (variant !== '') out.variant = variant;
  if (p['os.version'] !== undefined && p['os.version'] !== '') out['os.version'] = p['os.version'];
  if (p['os.features'] !== undefined && p['os.features'].length > 0) out['os.features'] = [...new Set(p['os.features'])].sort();
  return out;
}

/** `os/arch[/variant]` of the normal form (os.version is not part of the short form). */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return [n.os, n.architecture, n.variant].filter((x): x is string => x !== undefined && x !== '').join('/');
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b);
}

/** The platform Node runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const osMap: Record<string, string> = { win32: 'windows', sunos: 'solaris' };
  const a = osArch();
  const archMap: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: endianness() === 'LE' ? 'ppc64le' : 'ppc64', mipsel: 'mipsle' };
  const p: Platform = { os: osMap[process.platform] ?? process.platform, architecture: archMap[a] ?? a };
  if (a === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    if (typeof v === 'string' || typeof v === 'number') p.variant = `v${String(v)}`;
  }
  return normalizePlatform(p);
}

/**
 * The platforms that can run where `wanted` runs, best first (containerd's platforms.Only):
 * arm/v7 also takes v6 and v5; amd64/v3 also takes v2 and v1; arm64/v8.2 also takes v8.1 and v8;
 * arm64/v9.x also takes v9.(x-1)…v9 and v8.(x+5)…v8.
 *
 * Unlike containerd, never another architecture (386 for amd64, arm for arm64): the image ferry
 * builds declares the architecture that was asked for, and a 32-bit base under a 64-bit label
 * surprises on Lambda and Batch rather than helps.
 */
export function compatiblePlatforms(wanted: Platform): Platform[] {
  const n = normalizePlatform(wanted);
  const withVariant = (variant: string): Platform => {
    const p: Platform = { ...n };
    if (variant === '') delete p.variant;
    else p.variant = variant;
    return p;
  };
  const out: Platform[] = [n];
  const v = n.variant ?? '';
  if (n.architecture === 'amd64') {
    const level = /^v(\d+)$/.exec(v);
    if (level !== null) for (let i = Number(level[1]) - 1; i >= 1; i--) out.push(withVariant(i === 1 ? '' : `v${i}`));
  } else if (n.architecture === 'arm') {
    const level = /^v(\d+)$/.exec(v);
    if (level !== null) for (let i = Number(level[1]) - 1; i >= 5; i--) out.push(withVariant(`v${i}`));
  } else if (n.architecture === 'arm64') {
    const m = /^v(\d+)(?:\.(\d+))?$/.exec(v === '' ? 'v8' : v);
    if (m !== null) {
      let major = Number(m[1]);
      let minor = m[2] === undefined ? 0 : Number(m[2]);
      const name = (maj: number, min: number): string => (maj === 8 && min === 0 ? '' : min === 0 ? `v${maj}` : `v${maj}.${min}`);
      if (major === 9) {
        for (let i = minor - 1; i >= 0; i--) out.push(withVariant(name(9, i)));
        // v9.0 branched from v8.5: v9.x runs what v8.(x+5) runs.
        major = 8;
        minor += 5;
        out.push(withVariant(name(8, minor)));
      }
      if (major === 8) for (let i = minor - 1; i >= 0; i--) out.push(withVariant(name(8, i)));
    }
  }
  return out;
}

function matchesExactly(candidate: Platform, entry: Platform): boolean {
  const e = normalizePlatform(entry);
  if (e.os !== candidate.os || e.architecture !== candidate.architecture || (e.variant ?? '') !== (candidate.variant ?? '')) return false;
  // An entry that needs OS features (Windows' win32k) only suits a host that has them all.
  const have = new Set(candidate['os.features'] ?? []);
  return (e['os.features'] ?? []).every((f) => have.has(f));
}

/**
 * Choose from an index's entries the one to run on `wanted`: the best compatible platform, and the
 * first such entry in index order. Entries without a platform (and attestation entries, whose
 * platform is unknown/unknown) never match.
 */
export function matchPlatform<T extends { platform?: Platform }>(entries: readonly T[], wanted: Platform): T | undefined {
  for (const candidate of compatiblePlatforms(wanted)) {
    const found = entries.find((e) => e.platform !== undefined && matchesExactly(candidate, e.platform));
    if (found !== undefined) return found;
  }
  return undefined;
}

function nearestHint(value: string, known: readonly string[]): string | undefined {
  const best = nearest(value.toLowerCase(), known, { caseSensitive: true, maxDistance: 2 });
  return best === undefined ? undefined : `did you mean ${JSON.stringify(best)}?`;
}
