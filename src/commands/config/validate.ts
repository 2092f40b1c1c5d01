import { FerryCommand } from '../../base-command.js';
import { configFlag } from '../../flags.js';
import type { ValidateResult } from '../../services/config.js';

export default class ConfigValidate extends FerryCommand<ValidateResult> {
  static override summary = 'Check ferry.yaml: its keys, values, image name, and that the context and Dockerfile exist.';
  static override examples = ['<%= config.bin %> config validate', '<%= config.bin %> config validate --config pipelines/taxi/ferry.yaml --json'];
  static override flags = { ...configFlag };

  protected async exec(): Promise<ValidateResult> {
    const { flags } = await this.parse(ConfigValidate);
    const { validateConfig } = await import('../../services/config.js');
    return validateConfig({ configPath: flags.config }, this.context());
  }

  protected human(result: ValidateResult): string {
    return `${result.file}: valid`;
  }
}
