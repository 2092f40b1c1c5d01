/** The --each wrapper shared by the targets that fan a run out over an index (Batch arrays, Indexed Jobs). */
/**
 * The POSIX sh script a child runs (as `/bin/sh -c SCRIPT ferry-each CMD…`): it takes line
 * INDEX_VAR (from 0: AWS_BATCH_JOB_ARRAY_INDEX on Batch, JOB_COMPLETION_INDEX in an Indexed Kubernetes Job) of FERRY_EACH_VALUES with parameter expansion only (no
 * field splitting or globbing, so spaces, quotes, `$`, `*` and empty values arrive as they are;
 * no eval, so a value is never code), exports it, and execs the command with its own arguments.
 * dash, bash and busybox sh run it (test/unit/each-wrapper.test.ts).
 */
export function eachWrapper(indexVar: string): string {
  return [
  // The script's own variables have names no job uses (a key named i or n must arrive, and an
  // inherited variable of such a name must survive); it unsets only them.
  `__ferry_i=\${${indexVar}:-0}`,
  `case $__ferry_i in ''|*[!0-9]*) echo "ferry --each: ${indexVar}=$__ferry_i is not an index" >&2; exit 70;; esac`,
  `[ "$__ferry_i" -lt "\${FERRY_EACH_COUNT:-0}" ] || { echo "ferry --each: index $__ferry_i is not below FERRY_EACH_COUNT=$FERRY_EACH_COUNT" >&2; exit 70; }`,
  '__ferry_r=$FERRY_EACH_VALUES; __ferry_n=0',
  'while [ "$__ferry_n" -lt "$__ferry_i" ]; do __ferry_r=${__ferry_r#*"\n"}; __ferry_n=$((__ferry_n+1)); done',
  '__ferry_v=${__ferry_r%%"\n"*}',
  'export FERRY_EACH_INDEX="$__ferry_i" FERRY_EACH_VALUE="$__ferry_v" "$FERRY_EACH_KEY=$__ferry_v"',
  'unset __ferry_i __ferry_r __ferry_n __ferry_v',
  'exec "$@"',
].join('\n');
}

/** $0 of the wrapper: what `ps` shows and sh names in its own messages. */
export const EACH_ARGV0 = 'ferry-each';
