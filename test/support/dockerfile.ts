import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');

/**
 * The Dockerfile's ENTRYPOINT as argv (node, its flags, src/main.ts): the one place tests and benches read
 * the image's command line from, so what they start is what the image starts.
 */
export function imageEntrypoint(): string[] {
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
  if (!entry) throw new Error('no ENTRYPOINT in the Dockerfile');
  return JSON.parse(entry[1]!) as string[];
}
