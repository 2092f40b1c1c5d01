import type { Engine } from './types.js';

/** Placeholder until the Docker Engine API client lands (issue 3, in progress). */
export function dockerEngine(): Engine {
  return {
    kind: 'docker',
    available: () => Promise.resolve('the docker builder is not implemented yet'),
    build: () => Promise.reject(new Error('the docker builder is not implemented yet')),
  };
}
