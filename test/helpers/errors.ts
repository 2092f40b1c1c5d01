import { expect } from 'vitest';
import { FerryError } from '../../src/core/errors.js';

/** The FerryError a promise rejects with; fails the test if it resolves or throws something else. */
export async function caught(p: Promise<unknown>): Promise<FerryError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FerryError);
  return err as FerryError;
}

/** What a synchronous function throws, or undefined when it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}
