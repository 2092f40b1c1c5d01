import { FerryCommand } from '../../base-command.js';

export default class ConfigSchema extends FerryCommand<Record<string, unknown>> {
  static override summary = 'Print the JSON Schema of ferry.yaml, for editors and linters.';
  static override description =
    'Point your editor at it for completion, e.g. add `# yaml-language-server: $schema=./ferry.schema.json` at the top of ferry.yaml after `ferry config schema > ferry.schema.json`.';
  static override examples = ['<%= config.bin %> config schema > ferry.schema.json'];

  protected async exec(): Promise<Record<string, unknown>> {
    await this.parse(ConfigSchema);
    const { configJsonSchema } = await import('../../config/schema.js');
    return configJsonSchema();
  }

  protected human(result: Record<string, unknown>): string {
    return JSON.stringify(result, null, 2);
  }
}
