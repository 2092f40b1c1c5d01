// oclif's explicit command loading: one import per command, so start-up reads no directories.
// Command modules import services lazily, so `ferry --help` loads no SDK or registry code.
import Build from './build.js';
import ConfigSchema from './config/schema.js';
import ConfigValidate from './config/validate.js';
import Deploy from './deploy.js';
import Push from './push.js';
import Run from './run.js';

export const commands = {
  build: Build,
  push: Push,
  run: Run,
  deploy: Deploy,
  'config:schema': ConfigSchema,
  'config:validate': ConfigValidate,
};
