import type { Reporter } from '../../core/context.js';
import type { Platform } from '../../image/types.js';
import type { Dockerfile } from '../native/dockerfile.js';

export type EngineKind = 'docker' | 'podman' | 'buildah';
export const ENGINE_KINDS: readonly EngineKind[] = ['docker', 'podman', 'buildah'];

/** `--secret id=ID,src=PATH` or `--secret id=ID,env=VAR`: given to RUN --mount=type=secret only. */
export interface BuildSecret {
  id: string;
  src?: string;
  env?: string;
}

/** What an engine build needs, already checked by ferry (the Dockerfile parsed, the target found). */
export interface EngineBuildRequest {
  dockerfile: string;
  dockerfileDisplay: string;
  /** The parsed Dockerfile, to name the line of a failing step. */
  parsed: Dockerfile;
  contextDir: string;
  platform: Platform;
  buildArgs: Record<string, string>;
  target?: string | undefined;
  noCache: boolean;
  labels: Record<string, string>;
  secrets: BuildSecret[];
  /** `--ssh default` or `--ssh ID=PATH[,PATH]`. */
  ssh: string[];
  mirrors?: Readonly<Record<string, string | readonly string[]>> | undefined;
  insecureRegistries: string[];
  /** registries.HOST.endpoint from ferry.yaml: host → URL. */
  endpoints?: Readonly<Record<string, string>> | undefined;
  /** The registries (host[:port]) the Dockerfile pulls from, for this build's stages. */
  pullHosts?: readonly string[] | undefined;
  /**
   * Credentials ferry got itself (ECR tokens) for hosts in pullHosts, for this one build. Never
   * printed: registered for redaction, written only to the build's work dir or a request header.
   */
  registryAuth?: Readonly<Record<string, { username: string; password: string }>> | undefined;
  reporter: Reporter;
  env: NodeJS.ProcessEnv;
  /** Absolute paths never sent as context (ferry's own .ferry/ and --output directories). */
  exclude: string[];
  /** A fresh directory the engine may write its export to; removed after the build. */
  workDir: string;
  signal?: AbortSignal | undefined;
}

/** Where the engine left the image: a directory ferry reads with one of the readers in import.ts. */
export interface EngineOutput {
  format: 'dir-transport' | 'docker-archive';
  dir: string;
  /** The engine's own image ID (its config digest), for messages. */
  imageId: string;
}

export interface Engine {
  kind: EngineKind;
  /** true, or why it cannot be used here (shown to the user when nothing else works). */
  available(env: NodeJS.ProcessEnv): Promise<true | string>;
  build(req: EngineBuildRequest): Promise<EngineOutput>;
}
