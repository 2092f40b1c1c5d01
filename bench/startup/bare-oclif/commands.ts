// oclif's explicit command strategy, as ferry uses: one import per command, no directory scan.
import Hello from './hello.js';

export const commands = { hello: Hello };
