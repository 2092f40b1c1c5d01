/** Registry auth against a real distribution registry with htpasswd basic auth. */
import { afterAll, beforeAll, describe } from 'vitest';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { authCases } from './registry-auth-cases.js';

let reg: TestRegistry;

beforeAll(async () => {
  reg = await startRegistry({ mode: 'htpasswd' });
});

afterAll(async () => {
  await reg.stop();
});

describe('htpasswd basic auth', () => {
  authCases(() => reg);
});
