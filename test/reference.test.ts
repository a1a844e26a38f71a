import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schema } from '../src/config-schema.ts';
import { Metrics } from '../src/metrics.ts';
import { configJsonSchema, generatedFiles } from '../scripts/reference/generate.ts';

const root = join(import.meta.dirname, '..');

describe('generated reference docs', () => {
  // A field or metric added without regenerating fails here, so docs/ never lags the code.
  it.each(Object.keys(generatedFiles))('%s is up to date (npm run reference)', async (file) => {
    const expected = await generatedFiles[file]!();
    expect(readFileSync(join(root, file), 'utf8'), `${file} is stale: run npm run reference`).toBe(expected);
  });

  it('the JSON Schema lists every config section and the required fields', () => {
    const js = configJsonSchema();
    expect(Object.keys(js.properties ?? {})).toEqual(Object.keys(schema.shape));
    expect(js.required).toEqual(['zookeeper', 'replica']);
    expect(js.properties?.zookeeper?.required).toEqual(['connect']);
    expect(js.properties?.proxy?.properties?.port?.default).toBe(8080);
  });

  it('the metrics reference names every metric of the registry', async () => {
    const text = readFileSync(join(root, 'docs/metrics.md'), 'utf8');
    const names = (await new Metrics({ processMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(10);
    for (const n of names) expect(text).toContain(`\`${n}\``);
  });
});
