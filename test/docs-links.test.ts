import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

// A clone has only the repository: every document must stand alone and link only inside it.
describe('docs links', () => {
  it.each(files)('%s links only to files that exist in the repository', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    expect(text).not.toMatch(/\.\.\/shared|\/work\/shared/);
    const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('#'));
    for (const t of targets) {
      const path = join(dirname(join(root, file)), t.split('#')[0]!);
      expect(relative(root, path).startsWith('..'), `${file} → ${t} leaves the repository`).toBe(false);
      expect(existsSync(path), `${file} → ${t} does not exist`).toBe(true);
    }
  });
});
