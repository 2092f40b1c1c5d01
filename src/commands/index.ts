// oclif's explicit command loading: one import per command, so start-up reads no directories.
import ConfigSchema from './config/schema.js';
import ConfigValidate from './config/validate.js';

export const commands = {
  'config:schema': ConfigSchema,
  'config:validate': ConfigValidate,
};
