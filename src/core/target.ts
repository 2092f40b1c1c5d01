/**
 * The target-adapter contract: what every place an image can run (local engine, AWS Batch, Lambda,
 * Kubernetes, Spark, Cloud Run) offers to ferry's deploy verbs. Values here are plain data, so a
 * handle can be saved as JSON and read back by a later `ferry status --last`, and a plan can be
 * printed by `ferry plan` exactly as deploy would send it.
 *
 * A capability an adapter lacks is an absent optional method (and `false` in its capabilities),
 * never a method that does nothing.
 */
import type { RunContext } from './context.js';

/** The image every target runs: always pinned. */
export interface PinnedImage {
  /** NAME@sha256:… when the image has a registry name; the local image ID otherwise. */
  ref: string;
  /** The manifest digest. */
  digest: string;
  /** The image ID: the config digest (what local engines call it). */
  configDigest: string;
  /** os/arch[/variant]. */
  platform: string;
  /** The manifest's media type (ferry pushes one image manifest, never an index): for targets that check it (Lambda). */
  manifestMediaType?: string | undefined;
  /** Bytes of the config and compressed layers: a lower bound of the image's size, for targets with a size limit (Lambda). */
  size?: number | undefined;
}

/** One call a deploy would make: for `ferry plan`, and for tests that check request shapes. */
export interface PlannedRequest {
  /** "podman", "docker", "batch", "lambda", "kubernetes", … */
  service: string;
  /** "create container", "RegisterJobDefinition", … */
  action: string;
  /** The payload as it would be sent (or its engine-neutral equivalent for CLI engines). */
  payload: unknown;
}

export interface Plan {
  target: string;
  type: string;
  image: PinnedImage;
  requests: PlannedRequest[];
  /** Notes for a person: what will be reused, what will be created. */
  notes: string[];
  /**
   * Kinds that send manifests (Kubernetes): the objects as deploy would apply them, for `ferry plan`
   * (printed as YAML) and `--render DIR`. Secret values are never in them.
   */
  manifests?: Record<string, unknown>[];
}

export type RunState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What `deploy --async` returns and `status/logs/cancel --id|--last` read: plain JSON. */
export interface Handle {
  id: string;
  target: string;
  type: string;
  image: string;
  createdAt: string;
  /** The adapter's own identifiers (a job id, a function ARN, a container name). */
  ref: Record<string, string>;
}

export interface RunStatus {
  state: RunState;
  /** The platform's own name for the state (RUNNABLE, STARTING, …): shown on transitions. */
  phase?: string;
  exitCode?: number;
  /** Why it failed, in the platform's words (CannotPullContainerError, OOMKilled, …). */
  reason?: string;
  /** Array jobs: how many children are in each state. */
  children?: Partial<Record<RunState, number>>;
  /** Array jobs that failed: a few failed children (never all of them: the calls are bounded). */
  failedChildren?: FailedChild[];
}

/** One failed child of a fanned-out run (`deploy --each`). */
export interface FailedChild {
  /** Its position in the `--each` values, from 0. */
  index: number;
  exitCode?: number;
  reason?: string;
}

/**
 * `deploy --each KEY=V1,V2,…`: one deploy fanned out over values, one child run per value. The
 * child with index i gets `KEY` = values[i]. Parsed and checked (a valid variable name, at least
 * one value, no newline in a value) by services/each.ts before any build.
 */
export interface EachSpec {
  key: string;
  values: string[];
  /** Where the values came from, for errors: "--each" or "--each-file PATH". */
  source: string;
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  text: string;
  /** ISO time when the platform gives one. */
  time?: string;
}

export interface TargetCapabilities {
  plan: boolean;
  deploy: boolean;
  /** `deploy --async` with `status`. */
  async: boolean;
  logs: boolean;
  cancel: boolean;
  /** `--each`: one deploy fanned out over values. */
  each: boolean;
  /** `deploy --invoke`: call the deployed function once and print its answer. */
  invoke?: boolean;
  /** `plan/deploy --render DIR`: write the manifests instead of applying them (GitOps). */
  render?: boolean;
}

/** What a target kind is, for `ferry targets` (read without loading the adapter or its SDK). */
export interface TargetKindInfo {
  type: string;
  summary: string;
  capabilities: TargetCapabilities;
}

/**
 * What a remote target's adapter receives from the deploy and plan services: the target's own
 * settings, the shared `job` section, and the image pinned by digest.
 */
export interface DeployInput<C> {
  /** The target's name in ferry.yaml. */
  target: string;
  config: C;
  image: PinnedImage;
  /** The image's ENTRYPOINT (some platforms can keep but never replace it). */
  imageEntrypoint?: string[] | undefined;
  job: {
    command?: string[] | undefined;
    args?: string[] | undefined;
    env: Record<string, string>;
    resources?: { cpu?: string | number | undefined; memory?: string | number | undefined; gpu?: number | undefined } | undefined;
    timeout?: string | undefined;
  };
  /** `--each`: fan the run out over values. */
  each?: EachInput | undefined;
  /** ferry.yaml, for `where` in errors. */
  file: string;
  /**
   * The credentials ferry itself has for a registry (its ECR token included), for platforms that
   * need a pull secret; undefined when it has none it could hand on (anonymous, or a token only).
   */
  registryCredential?: ((registry: string) => Promise<RegistryCredential | undefined>) | undefined;
  /** "ferry.yaml:LINE:COL" of a key, when the loader can tell. */
  locate?: ((keyPath: (string | number)[]) => string | undefined) | undefined;
}

/** A username and password a platform can pull with (never printed). */
export interface RegistryCredential {
  username: string;
  password: string;
  /** Where ferry found it, for messages. */
  source: string;
  /** When it stops working (ECR tokens last 12 hours). */
  expiresAt?: Date | undefined;
}

/** What an adapter that waits its own way (a watch) reports to deploy while it waits. */
export interface WaitCallbacks {
  /** Aborted on Ctrl-C: the wait returns the last status it saw. */
  signal?: AbortSignal | undefined;
  /** Each change of state or phase (and children counts). */
  onChange(s: RunStatus): void;
}

export interface LogOptions {
  /** Keep reading while the run goes on; stop once it has ended and everything is read. */
  follow: boolean;
  /** An array or indexed run's child, by its index (its logs are per child). */
  index?: number | undefined;
  /**
   * Resolves when the caller (deploy, which polls status anyway) has seen the run end, so a
   * following reader need not ask the platform for the state itself: it drains and returns.
   */
  ended?: Promise<unknown> | undefined;
}

/** What `cancel` did: which call it made, or nothing when the run had already ended. */
export interface CancelOutcome {
  /** The platform call made ("CancelJob", "TerminateJob", "delete Job"), or "none". */
  action: string;
  /** The state the run was in when ferry looked. */
  before: RunState;
  /** The platform's own name for it (RUNNABLE, RUNNING, …). */
  phase?: string;
}

/** What an adapter gets with `--each`: the values, and what ferry knows of the image to deliver them. */
export interface EachInput extends EachSpec {
  /** The image's CMD: what a wrapper must run when job.command and job.args are unset. */
  imageCmd?: string[] | undefined;
  /**
   * Why ferry believes the image has a POSIX /bin/sh ("/bin/sh in layer 3", "RUN /bin/sh -c in its
   * history"); undefined when it has none or ferry cannot tell.
   */
  shell?: string | undefined;
}

export interface TargetAdapter<Input, Deployed = Handle> {
  readonly type: string;
  /** No side effects anywhere: what deploy would send. */
  plan(input: Input, ctx: RunContext): Promise<Plan>;
  deploy(plan: Plan, input: Input, ctx: RunContext): Promise<Deployed>;
  status?(h: Handle, ctx: RunContext): Promise<RunStatus>;
  /** Waits for the run to end its own way (a watch), instead of deploy polling status. */
  wait?(h: Handle, cb: WaitCallbacks, ctx: RunContext): Promise<RunStatus>;
  logs?(h: Handle, opts: LogOptions, ctx: RunContext): AsyncIterable<LogLine>;
  cancel?(h: Handle, ctx: RunContext): Promise<CancelOutcome>;
}
