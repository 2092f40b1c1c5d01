import { Help, type Command } from '@oclif/core';

/** The exit-code table, shown by `ferry --help` and every command's --help (and in the README). */
export const EXIT_CODES_HELP = `EXIT CODES
  0   success
  64  usage error: unknown command or flag, bad flag value
  65  bad input data: Dockerfile, image reference, build context
  69  a service or tool is unavailable: registry unreachable, engine missing
  70  internal error in ferry (a bug: please report it with --debug output)
  75  temporary failure that persisted after retries: try again later
  77  authentication or permission refused by a registry or cloud
  78  configuration error: ferry.yaml, credentials setup
  ferry run and ferry deploy exit with the container's own exit code once it has
  run (ferry's own failures print Error [CODE]; with --json, an error envelope),
  and 130/143 after Ctrl-C/SIGTERM (a local container is stopped and removed; a
  remote run goes on unless deploy had --cancel-on-interrupt).`;

export default class FerryHelp extends Help {
  protected override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    this.log('\n' + EXIT_CODES_HELP);
  }

  override async showCommandHelp(command: Command.Loadable): Promise<void> {
    await super.showCommandHelp(command);
    this.log(EXIT_CODES_HELP);
  }
}
