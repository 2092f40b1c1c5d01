import { z } from 'zod';
import { parsePublish, parseVolume } from './spec.js';

/**
 * `targets.<name>` with `type: local`: run on this machine's docker or podman engine. These are the
 * settings only a local engine has; what every target shares (command, args, env, resources,
 * timeout) is in `job`. Paths (volume sources, env files) are relative to ferry.yaml.
 */
const origin = { kind: 'config', where: 'ferry.yaml' } as const;
const parses = (fn: () => unknown): boolean => {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
};

export const localTargetSchema = z
  .strictObject({
    type: z.literal('local'),
    engine: z
      .enum(['auto', 'docker', 'podman'])
      .default('auto')
      .describe('auto: a Docker Engine API if DOCKER_HOST, a docker context or /var/run/docker.sock answers, else the podman CLI. docker: the Docker Engine API only. podman: the podman CLI only.'),
    volumes: z
      .array(
        z.string().refine((v) => parses(() => parseVolume(v, '/', origin)), {
          error: 'must be SRC:DST or SRC:DST:ro (SRC a path relative to ferry.yaml or a volume name, DST an absolute path)',
        }),
      )
      .default([])
      .describe('Bind mounts and volumes, as docker run -v: ./data:/data:ro. Relative paths are relative to ferry.yaml.'),
    ports: z
      .array(
        z.union([z.number().int().min(1).max(65535).transform(String), z.string()]).refine((v) => parses(() => parsePublish(v, origin)), {
          error: 'must be [IP:][HOST:]CONTAINER[/tcp|udp], e.g. 8080:80',
        }),
      )
      .default([])
      .describe('Published ports, as docker run -p: 8080:80, 127.0.0.1:8080:80/tcp.'),
    network: z.string().min(1).optional().describe('Network mode or network name, as docker run --network: bridge, host, none, or a network the engine has.'),
    workdir: z.string().regex(/^\//, 'must be an absolute path in the container').optional().describe('Working directory in the container (overrides the image WORKDIR).'),
    user: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/, 'must be USER, UID, USER:GROUP or UID:GID')
      .optional()
      .describe('User to run as, as docker run -u: 1000, 1000:1000, nobody.'),
    envFiles: z.array(z.string().min(1)).default([]).describe("Files of KEY=VALUE lines (docker's --env-file format), relative to ferry.yaml; their values win over job.env."),
  })
  .describe('Run on this machine, with docker (any Docker Engine API) or podman.');

export type LocalTargetConfig = z.output<typeof localTargetSchema>;
