/**
 * What the local target needs from an engine, whichever it is (the Docker Engine API, or the podman
 * CLI): does it have an image, load one, run a container to its end. Both implementations follow
 * the same rules, which exist because of what engines do:
 *  - the container is never auto-removed: podman 4.3's API reported exit 0 for an auto-removed
 *    container that exited 3, so the exit code is read (inspect) first, then the container removed;
 *  - it is removed in every case (exit, start failure, timeout, Ctrl-C);
 *  - output streams to the given writers as it comes.
 */
import type { Readable, Writable } from 'node:stream';
import type { PortSpec, VolumeSpec } from './spec.js';

export type EngineKind = 'docker' | 'podman';

export interface ContainerRun {
  /** The image ID, sha256:<config digest>: the pin. */
  image: string;
  /** A name for the container (ferry-<target>-<random>). */
  name: string;
  /** Replaces ENTRYPOINT; [] clears it. */
  command?: string[];
  /** Replaces CMD. */
  args?: string[];
  env: [string, string][];
  volumes: VolumeSpec[];
  ports: PortSpec[];
  network?: string;
  workdir?: string;
  user?: string;
  memoryBytes?: number;
  cpus?: number;
  labels: Record<string, string>;
}

export interface RunIo {
  stdout: Writable;
  stderr: Writable;
  /** Aborted (reason "SIGINT" or "SIGTERM") to stop and remove the container. */
  signal?: AbortSignal | undefined;
  /** Stop the container after this long. */
  timeoutMs?: number | undefined;
}

export interface ContainerOutcome {
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
  /** Why it was stopped early, if it was. */
  interrupted?: string;
}

export interface LocalEngine {
  kind: EngineKind;
  /** For messages and the result: "unix:///run/docker.sock", "podman 4.3.1". */
  address: string;
  hasImage(id: string): Promise<boolean>;
  /** Load a `docker save` archive. */
  load(archive: Readable): Promise<void>;
  run(spec: ContainerRun, io: RunIo): Promise<ContainerOutcome>;
  /** Containers that outlive ferry: started now, looked at, followed and stopped by later commands. */
  detached: DetachedContainers;
  close(): Promise<void>;
}

/** What the engine says about a container, by name. */
export interface ContainerStatus {
  /** The engine's word: created, running, exited, … */
  status: string;
  running: boolean;
  exitCode: number;
  oomKilled: boolean;
  /** The engine's error for a container that could not start. */
  error?: string;
}

/**
 * Containers ferry starts and leaves running (the Spark target's spark-submit container, which
 * `deploy --async` and a detached Ctrl-C leave going): a later `ferry status`, `logs` or `cancel`,
 * in another process, finds it by name. Such a container is not auto-removed, so its exit code and
 * output stay readable after it ends (podman 4.3's API has reported 0 for an auto-removed container
 * that exited 3).
 */
export interface DetachedContainers {
  /**
   * Pull an image by reference (NAME@sha256:…), with the engine's own credentials and registry
   * settings. `signal` stops it (Ctrl-C): it then rejects.
   */
  pull(ref: string, platform?: string, signal?: AbortSignal): Promise<void>;
  /** Create and start, not attached; RUN_START_FAILED when it cannot start. */
  start(spec: ContainerRun): Promise<void>;
  /** undefined when there is no such container. */
  inspect(name: string): Promise<ContainerStatus | undefined>;
  /** Its output from the start, line by line; with `follow`, until it ends (or `signal`). */
  logs(name: string, opts: { follow: boolean; signal?: AbortSignal | undefined }, onLine: (stream: 'stdout' | 'stderr', text: string) => void): Promise<void>;
  /**
   * Whether the image has these files (absolute paths), looked up in a container created from it
   * and never started (then removed): what a program in the image is about to be told to run.
   */
  filesIn(image: string, paths: readonly string[]): Promise<Map<string, boolean>>;
  /** SIGTERM, then SIGKILL after `graceSeconds`. */
  stop(name: string, graceSeconds: number): Promise<void>;
  remove(name: string): Promise<void>;
}

/** How long a stopped container gets between SIGTERM and SIGKILL (docker's default). */
export const STOP_GRACE_SECONDS = 10;
