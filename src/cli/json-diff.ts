// A diff of two JSON documents by path, for telling an operator what changed: one line per leaf that was
// removed (-), added (+) or changed (- old / + new). Paths are dotted; keys that are not plain identifiers
// (replica ids with dots) are quoted.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function key(path: string, k: string): string {
  const part = /^[A-Za-z_$][\w$-]*$/.test(k) ? k : JSON.stringify(k);
  return path === '' ? part : `${path}.${part}`;
}

export function jsonDiff(before: unknown, after: unknown): string[] {
  const out: string[] = [];
  walk(before as Json | undefined, after as Json | undefined, '', out);
  return out;
}

function walk(a: Json | undefined, b: Json | undefined, path: string, out: string[]): void {
  // Objects are walked into, an added or removed one too, so every line names a leaf.
  if ((isObject(a) || a === undefined) && (isObject(b) || b === undefined) && (a !== undefined || b !== undefined)) {
    const x = a ?? {};
    const y = b ?? {};
    for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) walk(x[k], y[k], key(path, k), out);
    return;
  }
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  const name = path === '' ? '(document)' : path;
  if (a !== undefined) out.push(`- ${name}: ${JSON.stringify(a)}`);
  if (b !== undefined) out.push(`+ ${name}: ${JSON.stringify(b)}`);
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
