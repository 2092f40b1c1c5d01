/**
 * Reading a Kubernetes pod's log on after its followed stream ended while the container still runs
 * (an API server restart, a proxy's idle timeout). The log is read with timestamps=true; a resumed
 * read asks for sinceTime, which the API takes to the whole second, so it repeats the lines of that
 * second (and a server may send more): the mark of the last line printed says which to skip.
 * Shared by the kubernetes-job and spark targets; no I/O here.
 */

/** How often a log stream that ends while its container runs is opened again. */
export const LOG_RESUMES = 5;

/**
 * Where a pod's log has been read to: the last line's timestamp and how many lines carried it, so
 * a resumed read (sinceTime, which the API takes to the second) skips what was already printed.
 */
export interface LogMark {
  time: string;
  seen: number;
}

export const newLogMark = (): LogMark => ({ time: '', seen: 0 });

/** The sinceTime for a read resuming after `mark` (whole seconds, as the API takes it), or undefined for a first read. */
export function sinceTimeOf(mark: LogMark): string | undefined {
  return mark.time === '' ? undefined : mark.time.replace(/\.\d+Z$/, 'Z');
}

/**
 * For one read of the log, from `mark` as it is now: a function that takes a raw "TIMESTAMP text"
 * line and gives its text, or undefined when that line was printed by an earlier read; it moves
 * `mark` on with every line it lets through. A line without a timestamp passes as it is.
 */
export function resumeFilter(mark: LogMark): (raw: string) => string | undefined {
  const resumeFrom = { ...mark };
  let skipped = 0;
  return (raw) => {
    const sp = raw.indexOf(' ');
    const time = sp > 0 ? raw.slice(0, sp) : '';
    const text = sp > 0 ? raw.slice(sp + 1) : raw;
    if (time === '' || !/^\d{4}-\d\d-\d\dT/.test(time)) return raw;
    if (resumeFrom.time !== '') {
      if (time < resumeFrom.time) return undefined;
      if (time === resumeFrom.time && skipped < resumeFrom.seen) {
        skipped += 1;
        return undefined;
      }
    }
    if (time === mark.time) mark.seen += 1;
    else {
      mark.time = time;
      mark.seen = 1;
    }
    return text;
  };
}
