import { z } from 'zod';
import { CPU_HELP, DURATION_HELP, MEMORY_HELP, parseCpu, parseDuration, parseMemory } from '../core/quantities.js';
import { isEcrHost } from '../registry/ecr/hosts.js';
import { targetSchemas, TARGET_TYPES } from '../targets/index.js';

/**
 * The schema of ferry.yaml. Objects are strict so a typo is an error with a suggestion rather than a
 * silently ignored key. `targets.<name>` is a union of the adapters' own schemas (src/targets/).
 */

const HOST_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;
const hostKey = z.string().regex(HOST_RE, 'must be a registry host, optionally with a port (e.g. 127.0.0.1:5000)');
const mirrorTarget = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/,
    'must be host[:port][/path], e.g. 127.0.0.1:5000/mirror',
  );

const endpointUrl = z
  .string()
  .refine(
    (v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname === '/' && u.search === '' && u.hash === '' && u.username === '' && u.password === '';
      } catch {
        return false;
      }
    },
    { error: 'must be an http:// or https:// URL with no path, e.g. http://127.0.0.1:5000' },
  );

/**
 * ECR's settings sit in their own `ecr` object rather than beside `insecure`: they only mean
 * something for an ECR host (the schema refuses them elsewhere), and they only apply when ferry
 * creates the repository, which the grouping makes plain. Names follow ECR's own API
 * (imageTagMutability, imageScanningConfiguration.scanOnPush) as booleans.
 */
export const ecrSettingsSchema = z
  .strictObject({
    createRepository: z
      .boolean()
      .default(true)
      .describe('Before a push, create the repository when it does not exist (DescribeRepositories, then CreateRepository). false: push only to existing repositories.'),
    tagImmutability: z
      .boolean()
      .default(false)
      .describe('A repository ferry creates gets immutable tags (IMMUTABLE): a tag, once pushed, cannot be moved. Existing repositories are left as they are.'),
    scanOnPush: z
      .boolean()
      .default(false)
      .describe('A repository ferry creates has images scanned for vulnerabilities on push. Existing repositories are left as they are.'),
  })
  .describe('Amazon ECR settings (only for ECR hosts: ACCOUNT.dkr.ecr.REGION.amazonaws.com and its FIPS, China and dual-stack forms).');

export const registrySettingsSchema = z
  .strictObject({
    insecure: z
      .boolean()
      .default(false)
      .describe('Talk plain HTTP to this registry. Only for registries on a trusted network (a local test registry).'),
    endpoint: endpointUrl
      .optional()
      .describe(
        "Send this registry's API traffic to another address (a proxy, a pull-through setup, a test registry standing in for the real one), keeping the image's own name and this host's credentials. An http:// endpoint means plain HTTP, as insecure does. podman and buildah builds pull through it too; a Docker daemon cannot be redirected.",
      ),
    ecr: ecrSettingsSchema.optional(),
  })
  .describe('Settings for one registry host.');

/**
 * Host keys are free-form, so `mirrors` sits beside them: a registry cannot be named "mirrors"
 * (a bare word without a dot or port is not a registry host a push could reach anyway).
 */
export const registriesSchema = z
  .object({
    mirrors: z
      .record(hostKey, z.union([mirrorTarget, z.array(mirrorTarget).min(1)]))
      .optional()
      .describe(
        'Read base images of a registry from a mirror first (pull-through caches, air-gapped networks): docker.io: 127.0.0.1:5000/mirror serves docker.io/library/python as 127.0.0.1:5000/mirror/library/python. Falls back to the registry itself when the mirror lacks the image.',
      ),
  })
  .catchall(registrySettingsSchema)
  .superRefine((value, ctx) => {
    for (const key of Object.keys(value)) {
      if (key !== 'mirrors' && !HOST_RE.test(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be a registry host, optionally with a port (e.g. 127.0.0.1:5000)' });
      } else if (key !== 'mirrors' && (value[key] as { ecr?: unknown } | undefined)?.ecr !== undefined && !isEcrHost(key)) {
        ctx.addIssue({ code: 'custom', path: [key, 'ecr'], message: 'ecr settings only apply to an Amazon ECR host (ACCOUNT.dkr.ecr.REGION.amazonaws.com)' });
      }
    }
  });

export const imageSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .optional()
      .describe('Image repository to push to, e.g. registry.example.com/team/taxi-ingest. docker.io names normalise as docker does.'),
    context: z.string().min(1).default('.').describe('Build context directory, relative to ferry.yaml.'),
    dockerfile: z.string().min(1).default('Dockerfile').describe('Dockerfile path, relative to the context.'),
    platform: z.string().min(1).default('linux/amd64').describe('Target platform os/arch[/variant].'),
    tags: z.array(z.string().min(1)).default([]).describe('Tags to push in addition to the digest.'),
    buildArgs: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
      .default({})
      .describe('Values for the Dockerfile ARGs; --build-arg overrides these.'),
    labels: z
      .record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()]).transform(String))
      .default({})
      .describe('Labels added to the image config (like docker build --label); --label overrides these.'),
    builder: z
      .enum(['auto', 'native', 'docker', 'podman', 'buildah'])
      .default('auto')
      .describe(
        'Who builds: native (no daemon, no RUN), an engine (docker: a Docker Engine API; podman; buildah), or auto: native when the Dockerfile allows, else the first usable engine (docker, podman, buildah). --builder overrides this.',
      ),
  })
  .describe('What to build and where it goes.');

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * What to run, the same for every target (local engine, AWS Batch, Kubernetes Job, Lambda, Spark,
 * Cloud Run), so a pipeline moves between them by changing its target only. The names follow
 * Kubernetes' container fields (command replaces ENTRYPOINT, args replaces CMD), which Batch and
 * Cloud Run also use; values use formats every target can take: memory in binary units only
 * (Mi/Gi: "2G" is decimal in Kubernetes but binary in docker), CPUs as numbers or millicores,
 * timeouts as durations. Target-specific settings (volumes, queues, namespaces) live in the target.
 */
export const jobSchema = z
  .strictObject({
    command: z
      .array(z.string())
      .optional()
      .describe("Replaces the image's ENTRYPOINT (and, as in docker, podman and Kubernetes, its CMD too unless args is given). [] clears the ENTRYPOINT."),
    args: z.array(z.string()).optional().describe("Replaces the image's CMD. Arguments after `ferry run --` win over these."),
    env: z
      .record(
        z.string().regex(ENV_NAME_RE, 'must be an environment variable name: letters, digits and _, not starting with a digit'),
        z.union([z.string(), z.number(), z.boolean()]).transform(String),
      )
      .default({})
      .describe('Environment variables for the run, added to the image ENV. -e and --env-file win over these.'),
    resources: z
      .strictObject({
        cpu: z
          .union([z.number(), z.string()])
          .refine((v) => parseCpu(v) !== undefined, { error: `must be ${CPU_HELP}, more than 0` })
          .optional()
          .describe(`The run's CPU limit: ${CPU_HELP}.`),
        memory: z
          .union([z.number(), z.string()])
          .refine((v) => parseMemory(v) !== undefined, { error: `must be ${MEMORY_HELP}` })
          .optional()
          .describe(`The run's memory limit: ${MEMORY_HELP}.`),
        gpu: z.number().int().min(0).max(64).optional().describe('GPUs the run needs (AWS Batch on EC2, Kubernetes). Not passed to local engines.'),
      })
      .optional()
      .describe('Resource limits (locally: the container limits; elsewhere: what the job requests).'),
    timeout: z
      .string()
      .refine((v) => parseDuration(v) !== undefined, { error: `must be ${DURATION_HELP}` })
      .optional()
      .describe(`Stop the run after this long, and fail with RUN_TIMEOUT: ${DURATION_HELP}.`),
  })
  .describe('What the image runs, for every target.');

const TARGET_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

export const targetsSchema = z
  .record(z.string(), z.discriminatedUnion('type', [...targetSchemas], { error: () => `type must be one of: ${TARGET_TYPES.join(', ')}` }))
  .superRefine((value, ctx) => {
    // Names become parts of container, job and function names on the targets: DNS-label-like.
    // (Checked here rather than as the record's key schema, whose zod message is only "Invalid key".)
    for (const key of Object.keys(value)) {
      if (!TARGET_NAME_RE.test(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be a target name: lowercase letters, digits and -, starting with a letter, up to 63 characters' });
      }
    }
  })
  .describe('Where the image runs, by name: `ferry deploy NAME`. With no targets, `ferry deploy` runs on the implicit target "local" (type: local).');

export const ferryConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors.'),
    apiVersion: z.literal('ferry/v1').describe('Config format version. Always ferry/v1 for now.'),
    image: imageSchema,
    registries: registriesSchema.default({}).describe('Per-registry settings, keyed by host[:port], and mirrors.'),
    job: jobSchema.default({ env: {} }),
    targets: targetsSchema.optional(),
  })
  .describe('ferry.yaml: how to build, push and run one pipeline image.');

export type FerryConfigInput = z.input<typeof ferryConfigSchema>;
export type FerryConfigParsed = z.output<typeof ferryConfigSchema>;

/** Every key path the schema knows, for "did you mean" on typos. */
export function knownKeys(path: (string | number)[]): string[] {
  let node: z.ZodType = ferryConfigSchema;
  for (const [i, part] of path.entries()) {
    node = unwrap(node);
    if (node instanceof z.ZodObject) {
      const shape = node.shape as Record<string, z.ZodType>;
      // Keys beyond the shape (registry hosts) are validated by the object's catchall schema.
      const next = shape[String(part)] ?? (node.def.catchall as z.ZodType | undefined);
      if (next === undefined) return [];
      node = next;
    } else if (node instanceof z.ZodRecord) {
      node = node.valueType as z.ZodType;
    } else if (node instanceof z.ZodArray) {
      node = node.element as z.ZodType;
    } else if (node instanceof z.ZodDiscriminatedUnion) {
      return unionKeys(node, path.slice(i));
    } else {
      return [];
    }
  }
  node = unwrap(node);
  if (node instanceof z.ZodDiscriminatedUnion) return unionKeys(node, []);
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

/** The keys of a union's members (every target type's keys), for "did you mean". */
function unionKeys(node: z.ZodDiscriminatedUnion, rest: (string | number)[]): string[] {
  const keys = new Set<string>();
  for (const option of node.options as z.ZodType[]) {
    let n: z.ZodType = unwrap(option);
    for (const part of rest) {
      if (!(n instanceof z.ZodObject)) return [...keys];
      const next = (n.shape as Record<string, z.ZodType | undefined>)[String(part)];
      if (next === undefined) break;
      n = unwrap(next);
    }
    if (n instanceof z.ZodObject) for (const k of Object.keys(n.shape)) keys.add(k);
  }
  return [...keys];
}

function unwrap(node: z.ZodType): z.ZodType {
  let n: z.ZodType = node;
  for (;;) {
    if (n instanceof z.ZodDefault || n instanceof z.ZodOptional) n = n.unwrap() as z.ZodType;
    else return n;
  }
}

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ferryConfigSchema, { io: 'input', target: 'draft-2020-12' });
  return { ...schema, title: 'ferry.yaml' };
}
