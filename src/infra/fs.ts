import { access } from 'node:fs/promises';

/** Whether a path exists (and this process may see it). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
