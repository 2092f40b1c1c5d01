/**
 * Turning an engine's failed build into a ferry error that names the Dockerfile line. The engine's
 * own output has already streamed to stderr; this keeps its last error lines in the message and
 * finds the instruction that failed from the step the engine announced last.
 */
import { dataError, type FerryError } from '../../core/errors.js';
import { redact } from '../../infra/redact.js';
import type { Dockerfile, Instruction } from '../native/dockerfile.js';

/**
 * Follows an engine's progress lines and remembers the step in progress.
 * buildah/podman: `[2/3] STEP 4/5: RUN make` (the stage prefix only with several stages);
 * classic Docker builder: `Step 4/9 : RUN make`.
 */
export class StepTracker {
  #stage: number | undefined;
  #step: number | undefined;
  #text: string | undefined;
  #classicStep = 0;
  readonly tail: string[] = [];

  constructor(readonly df: Dockerfile) {}

  line(text: string): void {
    const m = /^(?:\[(\d+)\/\d+\] )?STEP (\d+)\/\d+: (.*)$/.exec(text);
    if (m !== null) {
      this.#stage = m[1] === undefined ? undefined : Number(m[1]) - 1;
      this.#step = Number(m[2]);
      this.#text = m[3];
      return;
    }
    const c = /^Step (\d+)\/\d+ : (.*)$/.exec(text);
    if (c !== null) {
      this.#classicStep = Number(c[1]);
      this.#stage = undefined;
      this.#step = undefined;
      this.#text = c[2];
      return;
    }
    if (text.trim() !== '') {
      this.tail.push(text);
      if (this.tail.length > 20) this.tail.shift();
    }
  }

  /** The instruction the engine was running, if it can be told. */
  current(): Instruction | undefined {
    const stages = this.df.stages;
    if (this.#step !== undefined) {
      const stage = stages[this.#stage ?? (stages.length === 1 ? 0 : -1)];
      const found = stage === undefined ? undefined : this.#step === 1 ? stage.from : stage.instructions[this.#step - 2];
      if (found !== undefined && (this.#text === undefined || sameText(found, this.#text))) return found;
    }
    if (this.#classicStep > 0) {
      // The classic builder numbers every instruction of the file in order, FROMs included.
      const all = this.df.instructions.filter((i) => !(i.kind === 'ARG' && this.df.metaArgs.includes(i)));
      const found = all[this.#classicStep - 1];
      if (found !== undefined && (this.#text === undefined || sameText(found, this.#text))) return found;
    }
    // Fall back on the text: the first instruction that reads the same.
    return this.#text === undefined ? undefined : this.df.instructions.find((i) => sameText(i, this.#text ?? ''));
  }
}

function sameText(i: Instruction, text: string): boolean {
  const norm = (s: string): string => s.replace(/\s+/g, ' ').trim().toLowerCase();
  const a = norm(i.original);
  const b = norm(text);
  return a === b || a.startsWith(b) || b.startsWith(a);
}

/** ENGINE_BUILD_FAILED (65): the Dockerfile line, and the engine's last error lines. */
export function buildFailed(engine: string, tracker: StepTracker, exit: string, extra: string[] = []): FerryError {
  const instr = tracker.current();
  const where = instr === undefined ? undefined : `${tracker.df.file}:${instr.line}`;
  const lines = [...tracker.tail, ...extra].map((l) => redact(l)).filter((l) => l.trim() !== '');
  const last = lines.slice(-6);
  const what = instr === undefined ? 'the build' : `${instr.kind} at ${where ?? ''}`;
  return dataError('ENGINE_BUILD_FAILED', `${what} failed in ${engine} (${exit})${last.length > 0 ? `:\n${last.map((l) => `    ${l}`).join('\n')}` : ''}`, {
    ...(where !== undefined ? { where } : {}),
    details: { engine, ...(instr !== undefined ? { instruction: instr.kind, line: instr.line } : {}) },
    suggestions: ["read the engine's output above for the failing command's own error", 'fix the step, then build again'],
  });
}
