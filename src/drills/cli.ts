import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { ErrorCode, SidecarError, toSidecarError } from '../errors.ts';
import { loadDrillConfig, DEFAULT_CONFIG_FILE } from './config.ts';
import { httpMix, supersetMix } from './mix.ts';
import { TtyProgress } from './progress.ts';
import { runScenario, type ScenarioResult } from './runner.ts';
import { isScenarioName, SCENARIO_NAMES, type ScenarioName } from './scenario-names.ts';
import { SCENARIOS } from './scenarios.ts';
import { summaryTable } from './summary.ts';
import { login, type Session } from './superset-session.ts';
import { loadTarget, redactedTarget } from './target.ts';
import { merge } from './verdict.ts';

export const DRILL_USAGE = `usage: superset-ha drill <scenario...|all> [--target demo|FILE] [--duration S] [--rate R] [--out DIR] [--config FILE]

Scenarios: ${SCENARIO_NAMES.join(', ')}
  --target    demo (default: the stack scripts/demo.sh runs) or a target file (docs/drills.md)
  --duration  seconds each fault is held (default: run.faultS of the config)
  --rate      requests/s of the built-in load over all sidecars (default: run.rate)
  --out       where drill.json and report.html go (default .run/drills/<time>)
  --config    thresholds and timings (default config/drills.yaml)
Exit status: 0 every scenario passed, 1 one failed, 3 none failed but some are unknown, 2 bad usage.
`;

const REPO = path.resolve(import.meta.dirname, '..', '..');

async function loginWithRetry(base: string, user: string, password: string, ms: number): Promise<Session> {
  const agent = new Agent();
  const deadline = Date.now() + ms;
  try {
    for (;;) {
      try {
        return await login(base, user, password, agent);
      } catch (err) {
        if (Date.now() > deadline) throw toSidecarError(err, ErrorCode.DRILL_LOGIN_FAILED, `login through ${base} failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  } finally {
    await agent.close();
  }
}

export async function drillMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { target: { type: 'string', default: 'demo' }, duration: { type: 'string' }, rate: { type: 'string' }, out: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    process.stderr.write(`superset-ha drill: ${ErrorCode.USAGE}: ${(err as Error).message}\n${DRILL_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(DRILL_USAGE);
    return 0;
  }
  const names = parsed.positionals.includes('all') ? [...SCENARIO_NAMES] : parsed.positionals;
  const bad = names.filter((n) => !isScenarioName(n));
  const num = (s: string | undefined, what: string, max: number) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0 || n > max) throw new SidecarError(ErrorCode.USAGE, `--${what} must be a number in (0, ${max}], got "${s}"`);
    return n;
  };
  let duration: number | undefined;
  let rate: number | undefined;
  try {
    if (names.length === 0) throw new SidecarError(ErrorCode.USAGE, 'name at least one scenario, or all');
    if (bad.length > 0) throw new SidecarError(ErrorCode.USAGE, `unknown scenario ${bad.map((b) => `"${b}"`).join(', ')}`);
    duration = num(v.duration, 'duration', 3600);
    rate = num(v.rate, 'rate', 1000);
  } catch (err) {
    process.stderr.write(`superset-ha drill: ${ErrorCode.USAGE}: ${(err as Error).message}\n${DRILL_USAGE}`);
    return 2;
  }

  const runDir = path.resolve(process.env.SHA_RUN_DIR ?? path.join(REPO, '.run'));
  const config = loadDrillConfig(v.config ?? DEFAULT_CONFIG_FILE);
  const target = loadTarget(v.target, runDir);
  const startedAt = new Date();
  const runId = `d${startedAt.getTime().toString(36)}`;
  const out = path.resolve(v.out ?? path.join(runDir, 'drills', startedAt.toISOString().replace(/[:.]/g, '-')));
  const faultS = duration ?? config.run.faultS;
  const r = rate ?? config.run.rate;

  const abort = new AbortController();
  let sigints = 0;
  const onSignal = () => {
    if (++sigints === 1) {
      process.stderr.write('\nsuperset-ha drill: interrupted: healing the fault in place, then writing the report (Ctrl-C again to quit at once)\n');
      abort.abort();
    } else {
      process.stderr.write('\nsuperset-ha drill: quitting without healing: check the target (scripts/*.sh status)\n');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const origin = target.sidecars[0]!.proxy;
  let make;
  if (target.superset) {
    process.stderr.write(`logging in as ${target.superset.username} through ${origin} ...\n`);
    const session = await loginWithRetry(origin, target.superset.username, target.superset.password, 60_000);
    make = supersetMix(target, session, runId, config.run.sqllabShare, origin);
  } else {
    make = httpMix(target, runId, config.run.sqllabShare);
  }

  const metaOf = () => ({ runId, target: target.name, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), rate: r, faultS, interrupted: false });
  let seqs = 0;
  const seq = { next: () => seqs++ };
  // vega is heavy to load: only once there is something to render.
  const { writeOutputs } = await import('./journal.ts');
  const progress = new TtyProgress(process.stdout);
  const results: ScenarioResult[] = [];
  process.stderr.write(`drill ${runId}: ${names.join(', ')} against ${target.name}; faults held ${faultS} s; ${r} requests/s; output in ${out}\n`);
  for (const name of names as ScenarioName[]) {
    if (abort.signal.aborted) break;
    const res = await runScenario({ target, config, runId, make, signal: abort.signal, progress, faultMs: faultS * 1000, rate: r, seq }, SCENARIOS[name]);
    progress.clear();
    results.push(res);
    // Written after every scenario, so a drill cut short still leaves its journal and report.
    await writeOutputs(out, { ...metaOf(), interrupted: abort.signal.aborted }, config, redactedTarget(target), results);
    process.stdout.write(`${res.verdict.status.toUpperCase().padEnd(7)} ${name}: ${res.figures.requests} requests, ${res.figures.clientErrors} errors, ${res.figures.replayedUnsafe ?? '?'} replayed${res.verdict.reasons.length ? ` (${res.verdict.reasons.join('; ')})` : ''}\n`);
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  const meta = { ...metaOf(), interrupted: abort.signal.aborted };
  const files = await writeOutputs(out, meta, config, redactedTarget(target), results);
  process.stdout.write(`\n${summaryTable(results)}\n\njournal: ${files.json}\nreport:  ${files.html}\n`);
  const status = merge(results.map((x) => x.verdict.status));
  if (abort.signal.aborted) return 130;
  return status === 'pass' ? 0 : status === 'fail' ? 1 : 3;
}
