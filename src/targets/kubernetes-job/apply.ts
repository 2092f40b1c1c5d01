/**
 * Creating an object whose name is fixed by its content (NAME-<hash of the spec>), so that a
 * retried deploy neither makes a second one nor fails on "already exists": the Job of the
 * kubernetes-job target, the SparkApplication of the spark target's operator path.
 */
import type { RunContext } from '../../core/context.js';
import { configError, dataError, interruptedError, unavailableError } from '../../core/errors.js';
import type { Handle } from '../../core/target.js';
import { abortableSleep } from '../../infra/sleep.js';
import type { Obj } from './client.js';
import { DEPLOY_ID_LABEL, MANAGED_BY, SPEC_HASH_LABEL } from './manifest.js';

/** The calls on one named object of one kind. */
export interface NamedObject {
  /** Job, SparkApplication: for messages. */
  kind: string;
  namespace: string;
  name: string;
  /** The spec hash the object's ferry/spec-hash label carries. */
  hash: string;
  create(): Promise<Obj | 'exists'>;
  read(): Promise<Obj | undefined>;
  /** Deletes it (with its dependents). */
  remove(): Promise<unknown>;
  /** Whether the object's run has ended (a finished one of the same spec is replaced). */
  ended(o: Obj): boolean;
  /** The error code (`code`, as the error catalogue finds it) when a same-named object is not ferry's from these inputs. */
  code: string;
  /** The kubectl resource name, for the suggestion (job, sparkapplication). */
  kubectlKind: string;
  /** The ferry.yaml place of the name: key (file:line (targets.X.name)). */
  where?: string | undefined;
}

/** How long ferry waits for a finished object of the same name to go before it creates it again. */
const REPLACE_WAIT_MS = 60_000;

/**
 * Creates the object; when one of that name exists: the same spec still running is followed (the
 * same deploy, retried or run twice at once), the same spec ended is replaced (delete, then create,
 * as `kubectl replace --force`), anything else is refused with `code`.
 */
export async function createOrFollow(o: NamedObject, ctx: RunContext, sleep: (ms: number, signal?: AbortSignal) => Promise<void> = abortableSleep): Promise<{ obj: Obj; adopted: boolean }> {
  for (let replaced = false; ; ) {
    if (ctx.signal?.aborted === true) throw interruptedError(ctx.signal.reason, `creating ${o.kind} ${o.name}`);
    const created = await o.create();
    if (created !== 'exists') return { obj: created, adopted: false };
    const existing = await o.read();
    if (existing === undefined) continue; // deleted in between: create again
    const labels = ((existing['metadata'] ?? {}) as { labels?: Record<string, string> }).labels ?? {};
    if (labels[SPEC_HASH_LABEL] !== o.hash || labels[MANAGED_BY] !== 'ferry') {
      throw configError(o.code, `${o.kind} ${o.namespace}/${o.name} exists and was not made by ferry from these inputs`, {
        ...(o.where !== undefined ? { where: o.where } : {}),
        suggestions: [`delete it (\`kubectl delete ${o.kubectlKind} ${o.name} -n ${o.namespace}\`), or set another name: in the target`],
      });
    }
    if (!o.ended(existing)) {
      ctx.reporter.info(`${o.kind} ${o.name} exists already with the same spec and has not ended: following it instead of starting a second`);
      return { obj: existing, adopted: true };
    }
    if (replaced) {
      throw unavailableError(o.code, `${o.kind} ${o.namespace}/${o.name} was deleted but is still there after ${String(REPLACE_WAIT_MS / 1000)} s`, {
        suggestions: [`check for finalizers on it (\`kubectl get ${o.kubectlKind} ${o.name} -n ${o.namespace} -o yaml\`)`],
      });
    }
    // Its name is fixed by its content, so running the same spec again replaces the ended one.
    ctx.reporter.info(`${o.kind} ${o.name} ran before with the same spec and has ended: deleting it to run again`);
    await o.remove();
    const until = Date.now() + REPLACE_WAIT_MS;
    while (Date.now() < until && (await o.read()) !== undefined) await sleep(500, ctx.signal);
    replaced = true;
  }
}

/**
 * The object a run's handle names must still be that run's: names are fixed by content, so after
 * a run ended, a deploy of the same spec replaces its object with one of the same name. status,
 * logs and above all cancel must then not act on the newer run. (Handles from before ferry
 * recorded the uid carry none, and are taken as they are.)
 */
export function assertSameRun(h: Handle, obj: Obj, kind: string): void {
  const want = h.ref['uid'];
  const meta = (obj['metadata'] ?? {}) as { uid?: string; name?: string; namespace?: string; labels?: Record<string, string> };
  if (want === undefined || want === '' || meta.uid === undefined || meta.uid === want) return;
  const other = meta.labels?.[DEPLOY_ID_LABEL];
  throw dataError('K8S_RUN_REPLACED', `${kind} ${meta.namespace ?? ''}/${meta.name ?? ''} now belongs to ${other !== undefined ? `run ${other}` : 'another run'}: run ${h.id} ended and a deploy of the same spec replaced it`, {
    where: `--id ${h.id}`,
    details: { uid: want, current: meta.uid, ...(other !== undefined ? { currentRun: other } : {}) },
    suggestions: [other !== undefined ? `ferry status --id ${other} reads the run that is there now` : 'ferry status --last reads the newest run', `run ${h.id}'s state and logs went with its ${kind}`],
  });
}
