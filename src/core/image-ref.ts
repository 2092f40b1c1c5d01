/**
 * Image references, parsed once into a value object.
 *
 * The grammar is the one of github.com/distribution/reference (what docker, containerd and every
 * registry client agree on), and normalisation is docker's: `busybox` means
 * `docker.io/library/busybox`. Following them exactly matters because a reference that docker
 * accepts and ferry refuses (or the reverse) is a bug report waiting to happen.
 *
 *   reference        := name [ ":" tag ] [ "@" digest ]
 *   name             := [domain '/'] remote-name
 *   domain           := host [':' port-number]
 *   host             := domain-name | IPv4address | \[ IPv6address \]
 *   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
 *   path-component   := alpha-numeric [separator alpha-numeric]*
 *   alpha-numeric    := /[a-z0-9]+/
 *   separator        := /[_.]|__|[-]+/
 *   tag              := /[\w][\w.-]{0,127}/
 *   digest           := algorithm ":" hex   (sha256: 64, sha384: 96, sha512: 128 lowercase hex)
 */
import { dataError, type FerryError } from './errors.js';

/** Docker Hub's canonical name in references. */
export const DOCKER_HUB = 'docker.io';
/** The legacy name of Docker Hub, still used by `docker login` and in config.json keys. */
export const DOCKER_HUB_LEGACY = 'index.docker.io';
/** Where Docker Hub's registry API actually answers. */
export const DOCKER_HUB_API = 'registry-1.docker.io';
/** The key `docker login` writes into config.json for Docker Hub. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';
const OFFICIAL_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** distribution/reference's RepositoryNameTotalLengthMax; it applies to the path, not the domain. */
export const MAX_NAME_LENGTH = 255;

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
// Zone identifiers and IPv4-mapped forms are excluded on purpose, as upstream does.
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

const referenceRe = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredNameRe = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const anchoredTagRe = new RegExp(`^${tagPat}$`);
const anchoredDomainRe = new RegExp(`^${domainAndPort}$`);
const identifierRe = /^[a-f0-9]{64}$/;

/** Registered digest algorithms and the length of their hex encoding (as go-digest has them). */
export const DIGEST_ALGORITHMS: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** Why a reference was refused; stable, and carried in the error's details for --json. */
export type ImageRefProblem =
  | 'empty'
  | 'format'
  | 'uppercase'
  | 'name-too-long'
  | 'tag'
  | 'digest-format'
  | 'digest-unsupported'
  | 'digest-length'
  | 'identifier'
  | 'domain';

function refError(input: string, problem: ImageRefProblem, detail: string, where?: string): FerryError {
  return dataError('IMAGE_REF_INVALID', `invalid image reference "${input}": ${detail}`, {
    details: { reference: input, problem },
    ...(where === undefined ? {} : { where }),
    suggestions: [
      'an image reference looks like registry.example.com/team/app:tag or app@sha256:<64 hex digits>; repository names are lowercase',
    ],
  });
}

/** Checks a digest string (`algo:hex`); returns a description of the problem, or undefined. */
export function digestProblem(digest: string): { problem: ImageRefProblem; detail: string } | undefined {
  if (!new RegExp(`^${digestPat}$`).test(digest)) {
    return { problem: 'digest-format', detail: `digest "${digest}" is not of the form algorithm:hex` };
  }
  const colon = digest.indexOf(':');
  const algo = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const len = DIGEST_ALGORITHMS[algo];
  if (len === undefined) {
    return {
      problem: 'digest-unsupported',
      detail: `digest algorithm "${algo}" is not supported (use ${Object.keys(DIGEST_ALGORITHMS).join(', ')})`,
    };
  }
  if (hex.length !== len) {
    return { problem: 'digest-length', detail: `a ${algo} digest has ${len} hex digits, this one has ${hex.length}` };
  }
  if (!/^[a-f0-9]+$/.test(hex)) {
    return { problem: 'digest-format', detail: `digest "${digest}" must use lowercase hex digits` };
  }
  return undefined;
}

export function isValidDigest(digest: string): boolean {
  return digestProblem(digest) === undefined;
}

export function isValidTag(tag: string): boolean {
  return anchoredTagRe.test(tag);
}

/** Throws IMAGE_REF_INVALID unless `digest` is a valid, supported digest. */
export function assertDigest(digest: string, where?: string): string {
  const p = digestProblem(digest);
  if (p !== undefined) throw refError(digest, p.problem, p.detail, where);
  return digest;
}

/**
 * docker's splitDockerDomain: the first path element is a registry only if it looks like one
 * (has a dot or a colon, is `localhost`, or has uppercase letters, which a repository cannot).
 */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { domain: DOCKER_HUB, remainder: OFFICIAL_PREFIX + name };
  const maybeDomain = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (maybeDomain === 'localhost') {
    domain = maybeDomain;
    remainder = rest;
  } else if (maybeDomain === DOCKER_HUB_LEGACY) {
    domain = DOCKER_HUB;
    remainder = rest;
  } else if (/[.:]/.test(maybeDomain) || maybeDomain.toLowerCase() !== maybeDomain) {
    domain = maybeDomain;
    remainder = rest;
  } else {
    domain = DOCKER_HUB;
    remainder = name;
  }
  if (domain === DOCKER_HUB && !remainder.includes('/')) remainder = OFFICIAL_PREFIX + remainder;
  return { domain, remainder };
}

/** Says more precisely than "invalid format" what is wrong, for the error message. */
function diagnose(input: string, full: string): { problem: ImageRefProblem; detail: string } {
  let rest = full;
  const at = rest.indexOf('@');
  // A digest never contains a slash; an "@" before one belongs to something else (e.g. an IPv6 zone).
  if (at !== -1 && !rest.slice(at).includes('/')) {
    const digest = rest.slice(at + 1);
    const p = digestProblem(digest);
    if (p !== undefined) return p;
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  // The colons of a bracketed IPv6 host are not a tag separator.
  const colon = rest.indexOf(':', Math.max(lastSlash, rest.lastIndexOf(']')) + 1);
  if (colon !== -1) {
    const tag = rest.slice(colon + 1);
    if (!anchoredTagRe.test(tag)) {
      return {
        problem: 'tag',
        detail: `tag "${tag}" is invalid: a tag is 1 to 128 of [A-Za-z0-9_.-] and cannot start with "." or "-"`,
      };
    }
    rest = rest.slice(0, colon);
  }
  if (input.startsWith('[') && !input.includes('/')) {
    return { problem: 'format', detail: 'a registry host alone is not a reference: add a repository, as in [::1]:5000/app' };
  }
  if (input.startsWith(':') || input.startsWith('@')) {
    return { problem: 'format', detail: 'the repository name is missing' };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    return { problem: 'format', detail: 'a reference has no URL scheme (drop "http://" or "https://")' };
  }
  const firstSlash = rest.indexOf('/');
  const domain = firstSlash === -1 ? '' : rest.slice(0, firstSlash);
  if (domain !== '' && domain !== DOCKER_HUB && !anchoredDomainRe.test(domain)) {
    return { problem: 'domain', detail: `registry "${domain}" is not a valid host[:port]` };
  }
  return {
    problem: 'format',
    detail:
      'each path component must be lowercase letters and digits, separated by ".", "_", "__" or dashes, between single slashes',
  };
}

export interface ImageRefParts {
  /** As written in references: `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  registry: string;
  /** The path in the registry: `library/busybox`, `team/app`. */
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

export class ImageRef {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;

  constructor(parts: ImageRefParts) {
    this.registry = parts.registry;
    this.repository = parts.repository;
    this.tag = parts.tag;
    this.digest = parts.digest;
  }

  /** Parses and normalises as docker does. Throws IMAGE_REF_INVALID (exit 65). */
  static parse(input: string, where?: string): ImageRef {
    return parseImageRef(input, where);
  }

  /** `registry/repository`, without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** The host the registry API answers on (Docker Hub's differs from its reference name). */
  get apiHost(): string {
    return registryApiHost(this.registry);
  }

  /** What to ask the registry for: the digest when pinned, else the tag, else `latest`. */
  get reference(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  get isDockerHub(): boolean {
    return this.registry === DOCKER_HUB;
  }

  /** The fully qualified form: `docker.io/library/busybox:latest@sha256:…`. */
  toString(): string {
    return this.name + (this.tag === undefined ? '' : `:${this.tag}`) + (this.digest === undefined ? '' : `@${this.digest}`);
  }

  /** The short form docker shows: `busybox:latest`, `team/app`, `ghcr.io/team/app`. */
  familiar(): string {
    let name = this.name;
    if (this.registry === DOCKER_HUB) {
      name = this.repository;
      if (name.startsWith(OFFICIAL_PREFIX) && !name.slice(OFFICIAL_PREFIX.length).includes('/')) {
        name = name.slice(OFFICIAL_PREFIX.length);
      }
    }
    return name + (this.tag === undefined ? '' : `:${this.tag}`) + (this.digest === undefined ? '' : `@${this.digest}`);
  }

  /** The same repository pinned to `digest`; the tag is dropped, since a pinned reference is what runs. */
  withDigest(digest: string): ImageRef {
    assertDigest(digest);
    return new ImageRef({ registry: this.registry, repository: this.repository, digest });
  }

  /** The same repository with `tag` (and no digest). */
  withTag(tag: string): ImageRef {
    if (!anchoredTagRe.test(tag)) {
      throw refError(`${this.name}:${tag}`, 'tag', `tag "${tag}" is invalid: a tag is 1 to 128 of [A-Za-z0-9_.-] and cannot start with "." or "-"`);
    }
    return new ImageRef({ registry: this.registry, repository: this.repository, tag });
  }

  /** Same registry, another repository (e.g. the source of a cross-repository mount). */
  withRepository(repository: string): ImageRef {
    return parseImageRef(`${this.registry}/${repository}`);
  }

  equals(other: ImageRef): boolean {
    return this.toString() === other.toString();
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Maps a registry as written in references to the host its API answers on. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === DOCKER_HUB_LEGACY ? DOCKER_HUB_API : registry;
}

/**
 * Parses a reference the way `docker pull` does (ParseNormalizedNamed): familiar names get
 * `docker.io/library/`, `index.docker.io` becomes `docker.io`. A tag and a digest may both be given.
 */
export function parseImageRef(input: string, where?: string): ImageRef {
  if (input === '') throw refError(input, 'empty', 'the reference is empty', where);
  if (identifierRe.test(input)) {
    throw refError(input, 'identifier', 'a 64-digit hex string is an image ID, not a repository name', where);
  }
  const { domain, remainder } = splitDockerDomain(input);
  const colon = remainder.indexOf(':');
  const remote = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) {
    throw refError(input, 'uppercase', `repository name "${remote.split('@')[0] ?? remote}" must be lowercase`, where);
  }
  const full = `${domain}/${remainder}`;
  const m = referenceRe.exec(full);
  if (m === null) {
    const lower = full.toLowerCase();
    if (lower !== full && referenceRe.test(lower)) {
      throw refError(input, 'uppercase', 'repository name must be lowercase', where);
    }
    const d = diagnose(input, full);
    throw refError(input, d.problem, d.detail, where);
  }
  const name = m[1] ?? '';
  const tag = m[2];
  const digest = m[3];
  const nm = anchoredNameRe.exec(name);
  const registry = nm?.[1] ?? '';
  const repository = nm?.[2] ?? name;
  if (repository.length > MAX_NAME_LENGTH) {
    throw refError(
      input,
      'name-too-long',
      `repository name is ${repository.length} characters long; the limit is ${MAX_NAME_LENGTH}`,
      where,
    );
  }
  if (digest !== undefined) {
    const p = digestProblem(digest);
    if (p !== undefined) throw refError(input, p.problem, p.detail, where);
  }
  return new ImageRef({ registry, repository, tag, digest });
}

/** Like parseImageRef, but answers undefined instead of throwing. */
export function tryParseImageRef(input: string): ImageRef | undefined {
  try {
    return parseImageRef(input);
  } catch {
    return undefined;
  }
}

/** Normalises a registry host as written by users or in config.json keys (`https://index.docker.io/v1/`). */
export function normalizeRegistryHost(hostOrUrl: string): string {
  let h = hostOrUrl.trim();
  h = h.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = h.indexOf('/');
  if (slash !== -1) h = h.slice(0, slash);
  if (h === DOCKER_HUB_LEGACY || h === DOCKER_HUB_API || h === DOCKER_HUB) return DOCKER_HUB;
  return h;
}
