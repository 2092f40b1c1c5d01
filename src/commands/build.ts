import { Flags } from '@oclif/core';
import { FerryCommand } from '../base-command.js';
import { buildFlags, buildOptions, registryFlags } from '../flags.js';
import type { BuildResult } from '../services/build.js';

export default class Build extends FerryCommand<BuildResult> {
  static override summary = 'Build the image described by ferry.yaml into a local OCI image layout: natively (no daemon), or with an engine for RUN steps.';
  static override description =
    'Prints the image (manifest) digest on stdout. The layout defaults to .ferry/oci next to ferry.yaml; base-image layers are fetched once into the cache so the layout is complete (skopeo, podman and `ferry push` can read it). With --builder auto (the default), a Dockerfile with RUN steps is built by the first usable engine (docker, podman, buildah); when steps follow the last RUN, only the part up to it goes to the engine, once, and the rest is applied natively (a hybrid build).';
  static override examples = [
    '<%= config.bin %> build',
    '<%= config.bin %> build --config examples/sql-bundle/ferry.yaml --output oci:/tmp/img',
    '<%= config.bin %> build --build-arg PYTHON_VERSION=3.12 --json',
    '<%= config.bin %> build --builder podman --secret id=pip,src=$HOME/.config/pip/pip.conf',
  ];
  static override flags = {
    ...buildFlags,
    ...registryFlags,
    output: Flags.string({ char: 'o', description: 'Where to write the image: oci:DIR (default oci:.ferry/oci next to ferry.yaml).', helpValue: 'oci:DIR' }),
  };

  protected async exec(): Promise<BuildResult> {
    const { flags } = await this.parse(Build);
    const { buildService } = await import('../services/build.js');
    return buildService(
      { ...buildOptions(flags), output: flags.output },
      this.context(),
    );
  }

  protected human(result: BuildResult): string {
    return result.digest;
  }
}
