import { execFile } from 'node:child_process';
import path from 'node:path';
import { ErrorCode, SidecarError } from '../errors.ts';
import type { ActionName, Target } from './target.ts';

export interface ActionVars {
  replica?: number;
  sidecar?: number;
  server?: number;
  /** Environment overrides passed to a restarted sidecar ({env...}). */
  env?: readonly string[];
}

/** Fills the placeholders of an action's argv: {replica}, {sidecar}, {server}, and {env...} (zero or more words). */
export function expandArgv(argv: readonly string[], vars: ActionVars): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (a === '{env...}') {
      out.push(...(vars.env ?? []));
      continue;
    }
    out.push(
      a.replace(/\{(replica|sidecar|server)\}/g, (_, k: 'replica' | 'sidecar' | 'server') => {
        const v = vars[k];
        if (v === undefined) throw new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `action argument ${a} needs a ${k}`);
        return String(v);
      }),
    );
  }
  return out;
}

/**
 * Runs one of the target's actions and resolves to its stdout. Process control lives in the scripts (or,
 * later, kubectl): the drill only asks for it by name.
 */
export function runAction(target: Target, name: ActionName, vars: ActionVars = {}, timeoutMs = 180_000): Promise<string> {
  const argv = target.actions[name];
  if (argv === undefined) {
    return Promise.reject(new SidecarError(ErrorCode.DRILL_TARGET_INVALID, `target ${target.name} has no action "${name}"`));
  }
  const [cmd, ...args] = expandArgv(argv, vars);
  const file = cmd!.includes('/') ? path.resolve(target.cwd, cmd!) : cmd!;
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: target.cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const how = error.killed ? `killed after ${timeoutMs} ms` : `exit ${String(error.code ?? '?')}`;
        reject(
          new SidecarError(ErrorCode.DRILL_ACTION_FAILED, `${name} (${[cmd, ...args].join(' ')}) failed: ${how}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`, {
            cause: error,
            details: { action: name },
          }),
        );
        return;
      }
      resolve(stdout.trim());
    });
  });
}
