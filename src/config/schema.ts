import { z } from 'zod';

/**
 * The schema of ferry.yaml. Objects are strict so a typo is an error with a suggestion rather than a
 * silently ignored key. Later sections (job, targets) join here as the adapters that read them land.
 */

const HOST_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;
const hostKey = z.string().regex(HOST_RE, 'must be a registry host, optionally with a port (e.g. 127.0.0.1:5000)');
const mirrorTarget = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/,
    'must be host[:port][/path], e.g. 127.0.0.1:5000/mirror',
  );

export const registrySettingsSchema = z
  .strictObject({
    insecure: z
      .boolean()
      .default(false)
      .describe('Talk plain HTTP to this registry. Only for registries on a trusted network (a local test registry).'),
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

export const ferryConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors.'),
    apiVersion: z.literal('ferry/v1').describe('Config format version. Always ferry/v1 for now.'),
    image: imageSchema,
    registries: registriesSchema.default({}).describe('Per-registry settings, keyed by host[:port], and mirrors.'),
  })
  .describe('ferry.yaml: how to build, push and run one pipeline image.');

export type FerryConfigInput = z.input<typeof ferryConfigSchema>;
export type FerryConfigParsed = z.output<typeof ferryConfigSchema>;

/** Every key path the schema knows, for "did you mean" on typos. */
export function knownKeys(path: (string | number)[]): string[] {
  let node: z.ZodType = ferryConfigSchema;
  for (const part of path) {
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
    } else {
      return [];
    }
  }
  node = unwrap(node);
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
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
