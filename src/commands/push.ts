import { Flags } from '@oclif/core';
import { FerryCommand } from '../base-command.js';
import { buildFlags, buildOptions, registryFlags } from '../flags.js';
import type { PushResult } from '../services/push.js';

export default class Push extends FerryCommand<PushResult> {
  static override summary = 'Build if needed, then push to the registry. Prints the pinned reference NAME@sha256:… on stdout.';
  static override description =
    'Blobs the registry already has are skipped (HEAD), base layers from the same registry are mounted rather than copied, and the manifest is written last so an interrupted push never tags an incomplete image. Credentials come from --username/--password-stdin, then ~/.docker/config.json (auths, credHelpers, credsStore), then anonymous.';
  static override examples = [
    '<%= config.bin %> push',
    '<%= config.bin %> push --tag latest --tag v1.2.0',
    'echo "$TOKEN" | <%= config.bin %> push --username ci --password-stdin --json',
  ];
  static override flags = {
    ...buildFlags,
    ...registryFlags,
    tag: Flags.string({ char: 't', description: 'Also tag the pushed image (repeatable); adds to image.tags.', multiple: true }),
    image: Flags.string({ description: 'Repository to push to; overrides image.name (also FERRY_IMAGE).', helpValue: 'NAME' }),
    concurrency: Flags.integer({ description: 'Blob uploads in parallel.', default: 4, min: 1, max: 32, env: 'FERRY_PUSH_CONCURRENCY' }),
  };

  protected async exec(): Promise<PushResult> {
    const { flags } = await this.parse(Push);
    const { pushService } = await import('../services/push.js');
    return pushService(
      {
        ...buildOptions(flags),
        tags: flags.tag ?? [],
        imageName: flags.image,
        concurrency: flags.concurrency,
      },
      this.context(),
    );
  }

  protected human(result: PushResult): string {
    return result.image;
  }
}
