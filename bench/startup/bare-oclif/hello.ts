import { Command, Flags } from '@oclif/core';

export default class Hello extends Command {
  static override summary = 'Say hello.';
  static override flags = {
    name: Flags.string({ char: 'n', description: 'Who to greet.', default: 'world' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Hello);
    this.log(`hello ${flags.name}`);
  }
}
