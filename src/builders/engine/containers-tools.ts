/**
 * buildah and podman as builders. Both are containers/buildah underneath and take the same build
 * flags; ferry runs them as programs (never through a shell), streams their progress to stderr,
 * then has them write the image uncompressed with the `dir:` transport, which ferry imports.
 *
 * - `--format docker` keeps what the OCI config format drops (SHELL, HEALTHCHECK, ONBUILD), as
 *   Docker's builder does; ferry writes the OCI manifest itself afterwards.
 * - `--layers` keeps intermediate images, so an unchanged RUN is not run again (buildah's default
 *   is off).
 * - Isolation is left to the engine's own setting (BUILDAH_ISOLATION, containers.conf).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unavailableError, FerryError } from '../../core/errors.js';
import { formatPlatform } from '../../image/platform.js';
import { runProcess } from '../../infra/process.js';
import { engineAuthFile } from './auth-file.js';
import { endpointLocation, registriesConf } from './registries-conf.js';
import { buildFailed, StepTracker } from './step-errors.js';
import type { Engine, EngineBuildRequest, EngineOutput } from './types.js';

type Tool = 'buildah' | 'podman';

export function containersToolEngine(tool: Tool): Engine {
  return {
    kind: tool,
    available: (env) => toolAvailable(tool, env),
    build: (req) => buildWith(tool, req),
  };
}

async function toolAvailable(tool: Tool, env: NodeJS.ProcessEnv): Promise<true | string> {
  // `version` answers without touching storage; `info` proves storage and the runtime are usable.
  const args = tool === 'podman' ? ['info', '--format', '{{.Host.OCIRuntime.Name}}'] : ['info', '--format', '{{.store.GraphDriverName}}'];
  try {
    const r = await runProcess(tool, args, { env, timeoutMs: 30_000 });
    if (r.code === 0) return true;
    const why = r.stderr.trim().split('\n').slice(-1)[0] ?? '';
    return `\`${tool} info\` failed${why === '' ? '' : `: ${why}`}`;
  } catch (e) {
    if (e instanceof FerryError && e.code === 'PROCESS_NOT_FOUND') return `${tool} is not on PATH`;
    return `${tool} could not be started: ${e instanceof Error ? e.message : String(e)}`;
  }
}

export function buildArgs(tool: Tool, req: EngineBuildRequest, iidFile: string, ignoreFile?: string, authFile?: string): string[] {
  const args = [tool === 'buildah' ? 'bud' : 'build', '--format', 'docker', '--layers', '--iidfile', iidFile, '-f', req.dockerfile];
  if (ignoreFile !== undefined) args.push('--ignorefile', ignoreFile);
  if (authFile !== undefined) args.push('--authfile', authFile);
  args.push('--platform', formatPlatform(req.platform));
  for (const [k, v] of Object.entries(req.buildArgs)) args.push('--build-arg', `${k}=${v}`);
  if (req.target !== undefined) args.push('--target', req.target);
  if (req.noCache) args.push('--no-cache');
  for (const [k, v] of Object.entries(req.labels)) args.push('--label', `${k}=${v}`);
  for (const s of req.secrets) args.push('--secret', s.src !== undefined ? `id=${s.id},src=${s.src}` : `id=${s.id},env=${s.env ?? s.id}`);
  for (const s of req.ssh) args.push('--ssh', s);
  args.push(req.contextDir);
  return args;
}

async function buildWith(tool: Tool, req: EngineBuildRequest): Promise<EngineOutput> {
  const env: NodeJS.ProcessEnv = { ...req.env };
  await mkdir(req.workDir, { recursive: true });
  const conf = await registriesConf({ mirrors: req.mirrors, insecure: req.insecureRegistries, endpoints: req.endpoints, env: req.env });
  if (conf !== undefined) {
    const confPath = path.join(req.workDir, 'registries.conf');
    await writeFile(confPath, conf);
    env['CONTAINERS_REGISTRIES_CONF'] = confPath;
    req.reporter.debug(`${tool}: registries.conf for this build at ${confPath}`);
  }
  const pullAuthFile = await authFileFor(tool, req);
  const ignoreFile = await ignoreFileFor(req);
  const iidFile = path.join(req.workDir, 'iid');
  const tracker = new StepTracker(req.parsed);
  const args = buildArgs(tool, req, iidFile, ignoreFile, pullAuthFile);
  req.reporter.info(`building with ${tool}`);
  req.reporter.debug(`${tool} ${args.join(' ')}`);
  const r = await runProcess(tool, args, {
    env,
    cwd: req.contextDir,
    ...(req.signal !== undefined ? { signal: req.signal } : {}),
    onLine: (line) => {
      tracker.line(line);
      req.reporter.info(`  ${line}`);
    },
  });
  if (r.code !== 0) {
    const exit = r.code === null ? `killed by ${r.signal ?? 'a signal'}` : `exit ${r.code}`;
    throw buildFailed(tool, tracker, exit);
  }
  const imageId = (await readFile(iidFile, 'utf8')).trim();
  const dir = path.join(req.workDir, 'image');
  // dir: with compression off writes each layer as a plain tar; ferry compresses it (once per diff_id).
  const pushArgs = tool === 'buildah' ? ['push', '--quiet', '--disable-compression', imageId, `dir:${dir}`] : ['push', '--quiet', imageId, `dir:${dir}`];
  // A local export needs no registry login, but push still checks its auth file (REGISTRY_AUTH_FILE,
  // then DOCKER_CONFIG) and fails when it is missing: give it an empty one.
  const authFile = path.join(req.workDir, 'no-auth.json');
  await writeFile(authFile, '{}');
  const exportEnv = { ...env, REGISTRY_AUTH_FILE: authFile };
  const p = await runProcess(tool, pushArgs, { env: exportEnv, ...(req.signal !== undefined ? { signal: req.signal } : {}) });
  if (p.code !== 0) {
    throw unavailableError('ENGINE_EXPORT_FAILED', `${tool} could not export the image it built (${imageId}): ${lastLine(p.stderr)}`, {
      details: { engine: tool },
      suggestions: [`check the engine's storage with \`${tool} images\`, then build again`],
    });
  }
  return { format: 'dir-transport', dir, imageId };
}

/**
 * The credentials ferry has for the registries this build pulls from (ECR tokens), with the user's
 * own entries (see auth-file.ts), in a 0600 file of the work dir (removed with it). Each goes under
 * its host and, when registries.HOST.endpoint redirects the host, under the endpoint's host too:
 * containers/image asks for the credentials of the registry it contacts.
 */
async function authFileFor(tool: Tool, req: EngineBuildRequest): Promise<string | undefined> {
  const auth = Object.entries(req.registryAuth ?? {});
  if (auth.length === 0) return undefined;
  const entries: Record<string, { username: string; password: string }> = {};
  for (const [host, c] of auth) {
    entries[host] = c;
    const endpoint = req.endpoints?.[host];
    if (endpoint !== undefined) entries[endpointLocation(endpoint).host] = c;
  }
  const file = path.join(req.workDir, 'auth.json');
  await writeFile(file, await engineAuthFile({ entries, env: req.env }), { mode: 0o600 });
  await chmod(file, 0o600);
  req.reporter.debug(`${tool}: auth file for this build at ${file} (the user's entries, and ferry's for ${Object.keys(entries).join(', ')})`);
  return file;
}

/**
 * ferry's own output (.ferry/, an --output layout) inside the context must not be sent to the
 * engine, or each build would copy the last one into `COPY . .`. --ignorefile replaces
 * .dockerignore, so the file holds the user's patterns, then ferry's (later patterns win).
 */
async function ignoreFileFor(req: EngineBuildRequest): Promise<string | undefined> {
  const rels = req.exclude
    .map((p) => path.relative(req.contextDir, p))
    .filter((r) => r !== '' && !r.startsWith('..') && !path.isAbsolute(r))
    .map((r) => r.split(path.sep).join('/'));
  if (rels.length === 0) return undefined;
  const user = await readFile(path.join(req.contextDir, '.dockerignore'), 'utf8').catch(() => '');
  const file = path.join(req.workDir, 'dockerignore');
  await writeFile(file, `${user.trimEnd()}\n# ferry's own output\n${rels.map((r) => `${r}\n`).join('')}`);
  return file;
}

function lastLine(s: string): string {
  return s.trim().split('\n').slice(-1)[0] ?? '';
}
