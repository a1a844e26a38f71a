// Regenerates docs/configuration.md, docs/config.schema.json and docs/metrics.md (npm run reference).
// With --check it writes nothing and exits 1 naming each file that is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './reference/generate.ts';

const root = join(import.meta.dirname, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const [file, make] of Object.entries(generatedFiles)) {
  const text = await make();
  const path = join(root, file);
  let old: string | undefined;
  try {
    old = readFileSync(path, 'utf8');
  } catch {
    old = undefined;
  }
  if (old === text) continue;
  if (check) {
    process.stderr.write(`${file} is out of date: run npm run reference\n`);
    stale++;
  } else {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
process.exit(stale > 0 ? 1 : 0);
