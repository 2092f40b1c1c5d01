// oclif's explicit command loading: one import per command, so start-up reads no directories.
// Command modules import services lazily, so `ferry --help` loads no SDK or registry code.
import Build from './build.js';
import Cancel from './cancel.js';
import ConfigSchema from './config/schema.js';
import ConfigValidate from './config/validate.js';
import Deploy from './deploy.js';
import Logs from './logs.js';
import PlanCommand from './plan.js';
import Push from './push.js';
import Run from './run.js';
import Status from './status.js';
import Targets from './targets.js';

export const commands = {
  build: Build,
  push: Push,
  run: Run,
  plan: PlanCommand,
  deploy: Deploy,
  status: Status,
  logs: Logs,
  cancel: Cancel,
  targets: Targets,
  'config:schema': ConfigSchema,
  'config:validate': ConfigValidate,
};
