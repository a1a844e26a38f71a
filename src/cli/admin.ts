import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config.ts';
import { ErrorCode, SidecarError, isSidecarError } from '../errors.ts';
import { ensureLayout } from '../zookeeper/layout.ts';
import { decodeRuntimeConfig, encodeRuntimeConfig, EMPTY_RUNTIME_CONFIG, type RuntimeConfig } from '../zookeeper/runtime-config-schema.ts';
import { ZkSession } from '../zookeeper/session.ts';
import { jsonDiff, mergePatch } from './json-diff.ts';

export const ADMIN_USAGE = `       superset-ha config get  --config FILE
       superset-ha config set  --config FILE (--file DOC|- | --merge JSON) [--expect-version N]
       superset-ha config edit --config FILE            (opens $VISUAL or $EDITOR)
       superset-ha zk secure   --config FILE            (create the coordination nodes, take over open ACLs)
`;

/** Exit codes: 0 done, 1 ZooKeeper or I/O failure, 2 usage or invalid document, 3 lost a concurrent write. */
const EXIT = { ok: 0, failed: 1, invalid: 2, conflict: 3 } as const;

interface Io {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

export async function adminMain(argv: string[], io: Io = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        file: { type: 'string', short: 'f' },
        merge: { type: 'string', short: 'm' },
        'expect-version': { type: 'string' },
      },
    });
  } catch (err) {
    return usage(io, (err as Error).message);
  }
  const [group, verb, ...rest] = parsed.positionals;
  const known = (group === 'config' && ['get', 'set', 'edit'].includes(verb ?? '')) || (group === 'zk' && verb === 'secure');
  if (!known || rest.length > 0) return usage(io, `unknown command "${parsed.positionals.join(' ')}"`);
  if (parsed.values.config === undefined) return usage(io, '--config FILE is required');
  let expect: number | undefined;
  if (parsed.values['expect-version'] !== undefined) {
    expect = Number(parsed.values['expect-version']);
    if (!Number.isInteger(expect) || expect < 0) return usage(io, '--expect-version must be a znode version (an integer >= 0)');
  }
  if (verb === 'set' && (parsed.values.file === undefined) === (parsed.values.merge === undefined)) return usage(io, 'config set needs exactly one of --file or --merge');

  let config: Config;
  try {
    config = loadConfig(parsed.values.config, env);
  } catch (err) {
    return fail(io, err, EXIT.invalid);
  }
  const path = `${config.zookeeper.root}/config`;
  let zk: ZkSession | undefined;
  try {
    zk = await connect(config);
    if (group === 'zk') {
      const r = await ensureLayout(zk, config.zookeeper.root, true);
      io.out(`created: ${r.created.join(', ') || 'none'}\nACLs rewritten: ${r.fixed.map((f) => `${f.path} (${f.problem})`).join(', ') || 'none'}\n`);
      return EXIT.ok;
    }
    // A write needs the root and its config node, created with the cluster's ACL (refused if others can write).
    if (verb !== 'get') await ensureLayout(zk, config.zookeeper.root, false);
    const current = await read(zk, path);
    if (verb === 'get') {
      io.out(JSON.stringify(current.doc, null, 2) + '\n');
      io.err(`superset-ha: ${path} version ${current.version}\n`);
      return EXIT.ok;
    }
    let text: string;
    if (verb === 'edit') {
      const edited = await edit(current.doc, env);
      if (typeof edited === 'number') return usage(io, 'set VISUAL or EDITOR to an editor command');
      text = edited;
    } else if (parsed.values.file !== undefined) {
      text = readFileSync(parsed.values.file === '-' ? 0 : parsed.values.file, 'utf8');
    } else {
      let patch: unknown;
      try {
        patch = JSON.parse(parsed.values.merge!);
      } catch (err) {
        return usage(io, `--merge must be a JSON merge patch: ${(err as Error).message}`);
      }
      text = JSON.stringify(mergePatch(current.doc, patch));
    }
    let next: RuntimeConfig;
    try {
      next = decodeRuntimeConfig(text); // validated before anything is written
    } catch (err) {
      if (verb === 'edit') io.err(`superset-ha: your edit is kept in ${keep(text)}\n`);
      throw err;
    }
    if (expect !== undefined && expect !== current.version) return conflict(io, path, expect, current.version, undefined, current.doc, next);
    const changes = jsonDiff(current.doc, next);
    if (changes.length === 0) {
      io.err(`superset-ha: ${ErrorCode.RUNTIME_CONFIG_UNCHANGED}: nothing to write (${path} stays at version ${current.version})\n`);
      return EXIT.ok;
    }
    const written = await write(zk, path, next, current.version);
    if (written.ok) {
      io.out(changes.join('\n') + '\n');
      io.err(`superset-ha: wrote ${path} version ${written.version}\n`);
      return EXIT.ok;
    }
    const now = await read(zk, path);
    return conflict(io, path, current.version, now.version, current.doc, now.doc, next);
  } catch (err) {
    return fail(io, err, isSidecarError(err, ErrorCode.RUNTIME_CONFIG_INVALID) ? EXIT.invalid : EXIT.failed);
  } finally {
    await zk?.close();
  }
}

function usage(io: Io, why: string): number {
  io.err(`superset-ha: ${ErrorCode.USAGE}: ${why}\nusage:\n${ADMIN_USAGE}`);
  return EXIT.invalid;
}

function fail(io: Io, err: unknown, code: number): number {
  const c = isSidecarError(err) ? err.code : ErrorCode.ZK_ERROR;
  io.err(`superset-ha: ${c}: ${(err as Error).message}\n`);
  return code;
}

/** The loser of a concurrent write is told who moved the version and what both sides changed. */
function conflict(io: Io, path: string, base: number, now: number, baseDoc: RuntimeConfig | undefined, nowDoc: RuntimeConfig, mine: RuntimeConfig | undefined): number {
  const lines = [`superset-ha: ${ErrorCode.RUNTIME_CONFIG_CONFLICT}: ${path} is at version ${now}, not ${base}: someone else wrote it; nothing was written.`];
  if (baseDoc !== undefined) lines.push('Their change:', ...indent(jsonDiff(baseDoc, nowDoc)));
  if (mine !== undefined) lines.push('Your change, against what is there now:', ...indent(jsonDiff(nowDoc, mine)));
  lines.push('Read it again (config get) and redo your change on top.');
  io.err(lines.join('\n') + '\n');
  return EXIT.conflict;
}

function indent(lines: string[]): string[] {
  return lines.length === 0 ? ['  (none)'] : lines.map((l) => `  ${l}`);
}

async function connect(config: Config): Promise<ZkSession> {
  const zkc = config.zookeeper;
  const zk = new ZkSession({ ...zkc, retry: { baseMs: zkc.retryBaseMs, maxMs: zkc.retryMaxMs } });
  try {
    await new Promise<void>((resolve, reject) => {
      zk.once('connected', () => resolve());
      zk.once('connectTimeout', reject);
      zk.once('error', reject);
      zk.start();
    });
  } catch (err) {
    await zk.close();
    throw err;
  }
  zk.on('error', () => undefined); // later errors surface through the operation that hits them
  return zk;
}

async function read(zk: ZkSession, path: string): Promise<{ doc: RuntimeConfig; version: number }> {
  try {
    const { data, stat } = await zk.getData(path);
    return { doc: decodeRuntimeConfig(data), version: stat.version };
  } catch (err) {
    if (isSidecarError(err, ErrorCode.ZK_NO_NODE)) return { doc: EMPTY_RUNTIME_CONFIG, version: -1 };
    throw err;
  }
}

/** Compare-and-set on the znode's data version; version -1 means "the node must not exist yet". */
async function write(zk: ZkSession, path: string, doc: RuntimeConfig, version: number): Promise<{ ok: true; version: number } | { ok: false }> {
  try {
    if (version === -1) {
      await zk.create(path, encodeRuntimeConfig(doc), 'persistent');
      return { ok: true, version: 0 };
    }
    const stat = await zk.setData(path, encodeRuntimeConfig(doc), version);
    return { ok: true, version: stat.version };
  } catch (err) {
    if (isSidecarError(err, ErrorCode.ZK_BAD_VERSION) || isSidecarError(err, ErrorCode.ZK_NODE_EXISTS) || isSidecarError(err, ErrorCode.ZK_NO_NODE)) return { ok: false };
    throw err;
  }
}

/** Saves a rejected edit so the operator can fix it rather than start over. */
function keep(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'superset-ha-rejected-')), 'config.json');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** Opens the document in the operator's editor; returns the saved text, or -1 when no editor is set. */
async function edit(doc: RuntimeConfig, env: NodeJS.ProcessEnv): Promise<string | number> {
  const editor = [env.VISUAL, env.EDITOR].find((e) => e !== undefined && e.trim() !== '');
  if (editor === undefined) return -1;
  const dir = mkdtempSync(join(tmpdir(), 'superset-ha-config-'));
  const file = join(dir, 'config.json');
  try {
    writeFileSync(file, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
    // Through the shell, like git does, so EDITOR="code --wait" works. Not spawnSync: the session must keep
    // answering pings while the operator edits, or it expires before the write.
    const child = spawn('/bin/sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit', env });
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, sig) => resolve([code, sig]));
    });
    if (status !== 0) throw new SidecarError(ErrorCode.USAGE, `the editor exited with ${status ?? signal}; nothing written`);
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
