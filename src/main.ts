import { run } from '@oclif/core';
import { fromOclifError } from './base-command.js';
import { nearest } from './core/suggest.js';
import { FerryError } from './core/errors.js';
import { commands } from './commands/index.js';
import { errorEnvelope, formatError, printJson, writeStderr } from './ui/output.js';

/**
 * The process entry. oclif dispatches to a command (commands handle their own errors); what reaches
 * here failed before a command ran, such as an unknown command, and is a usage error (64).
 */
export async function main(argv: string[]): Promise<void> {
  try {
    await run(argv, import.meta.url);
  } catch (e) {
    // oclif signals a normal exit (e.g. after --help) with an ExitError of code 0.
    if (e instanceof Error && 'oclif' in e && (e as { oclif?: { exit?: number } }).oclif?.exit === 0) return;
    let err = fromOclifError(e);
    if (err.code === 'USAGE_UNKNOWN_COMMAND') err = withCommandHint(err, argv);
    const end = argv.indexOf('--');
    const flags = end === -1 ? argv : argv.slice(0, end);
    if (flags.includes('--json')) printJson(errorEnvelope(err));
    else writeStderr(formatError(err, flags.includes('--debug')));
    process.exitCode = err.exitCode;
  }
}

function withCommandHint(err: FerryError, argv: string[]): FerryError {
  const words = argv.filter((a) => !a.startsWith('-'));
  const known = Object.keys(commands).map((id) => id.replaceAll(':', ' '));
  const guess = nearest(words.slice(0, 2).join(' '), known) ?? nearest(words[0] ?? '', known);
  const suggestions = guess !== undefined ? [`did you mean \`ferry ${guess}\`?`, ...err.suggestions] : err.suggestions;
  return new FerryError(err.code, err.message, { exitCode: err.exitCode, suggestions, cause: err });
}
