import { randomBytes } from 'node:crypto';

/**
 * A new run id: the UTC date and 12 random hex digits (20261129-3f2a9c1b7d4e). Short enough to
 * type, unique enough to name one deploy among a user's runs, and a safe file name (the handle
 * store names files by it).
 */
export function newRunId(now: Date = new Date()): string {
  return `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(6).toString('hex')}`;
}
