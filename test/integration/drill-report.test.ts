import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDrillConfig, type DrillConfig } from '../../src/drills/config.ts';
import { writeOutputs } from '../../src/drills/journal.ts';
import { httpMix } from '../../src/drills/mix.ts';
import { runScenario, type ScenarioResult } from '../../src/drills/runner.ts';
import { SCENARIOS } from '../../src/drills/scenarios.ts';
import type { Target } from '../../src/drills/target.ts';
import { startSmallStack, stopSmallStack } from '../support/drill-stack.ts';
import { freePort } from '../support/ports.ts';
import { RUN_DIR, ZK_CONNECT } from '../support/realparts.ts';

// A drill end to end on a small stack: two lightweight upstreams with a sidecar each (production defaults:
// 2 s health checks, 60 s upstream timeouts) on the real ensemble, one replica SIGKILLed under load. Then the
// report is opened in headless Chromium (Debian's, through playwright-core) and must show without a console error.

// Long enough for the production-default health checks (every 2 s, fall 3) to deregister the replica under a
// busy machine's scheduling, so the live set visibly drops while the fault is on.
const FAULT_MS = 12_000;
const dir = mkdtempSync(path.join(tmpdir(), 'sha-drill-'));
let target: Target;
let result: ScenarioResult;
const base = loadDrillConfig();
const config: DrillConfig = { ...base, run: { ...base.run, steadyS: 3, afterS: 2, recoveryWaitS: 40, sampleMs: 250 } };

describe('drill on a small stack', () => {
  beforeAll(async () => {
    const ports = async () => [await freePort(), await freePort()];
    target = await startSmallStack({ dir, zkConnect: ZK_CONNECT, upstreamPorts: await ports(), proxyPorts: await ports(), adminPorts: await ports(), cluster: `drill-${process.pid}` });
  });
  afterAll(async () => {
    await stopSmallStack(dir);
  });

  it('records every request of a replica crash, counts executions, heals, and judges it', async () => {
    const runId = `t${Date.now().toString(36)}`;
    result = await runScenario(
      { target, config, runId, make: httpMix(target, runId, 0.2), signal: new AbortController().signal, faultMs: FAULT_MS, rate: 25 },
      SCENARIOS['replica-crash'],
    );
    const f = result.figures;
    const kinds = result.timeline.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['steady', 'fault', 'landed', 'heal', 'healed', 'recovered']));
    expect(result.timeline.find((e) => e.kind === 'landed')?.detail).toMatch(/refuses connections/);
    // Load ran through both sidecars in every phase; the ledger is ordered and complete.
    expect(f.requests).toBeGreaterThan(200);
    expect(new Set(result.ledger.map((e) => e.sidecar))).toEqual(new Set(['sidecar-0', 'sidecar-1']));
    expect(new Set(result.ledger.map((e) => e.phase))).toEqual(new Set(['steady', 'fault', 'recovery', 'after']));
    // A crashed upstream refuses connections: every request is retried elsewhere, none is lost or replayed.
    // The only errors allowed: an unsafe request already in flight as the SIGKILL landed, answered "may
    // have run, not replayed" (the upstream may have executed it; no proxy can know).
    const landedAt = result.timeline.find((e) => e.kind === 'landed')!.t;
    for (const e of result.ledger.filter((x) => x.outcome !== 'ok')) {
      expect(e).toMatchObject({ route: 'write', outcome: 'indeterminate', code: 'SHA_PROXY_NOT_REPLAYED' });
      expect(e.start).toBeLessThanOrEqual(landedAt);
      expect(e.end).toBeGreaterThanOrEqual(result.marks.fault);
    }
    expect(f.failed).toBe(0);
    expect(f.judgedErrors).toBe(0);
    expect(f.unsafeSent).toBeGreaterThan(20);
    expect(f.replayedUnsafe).toBe(0);
    expect(f.unsafeExecuted).toBe(f.unsafeSent);
    expect(f.detectS).not.toBeNull();
    expect(f.recoverS).not.toBeNull();
    expect(f.story.filter((s) => !s.ok)).toEqual([]);
    expect(f.metricsTold).toBe(true);
    expect(result.verdict.checks.find((c) => c.name === 'replayed unsafe requests')?.status).toBe('pass');
    // After healing, the upstream is back under the scripts' control.
    const status = await import('../../src/drills/actions.ts').then((a) => a.runAction(target, 'replica.status'));
    expect(status).toMatch(/^1 port=\d+ pid=\d+ state=up$/m);
  });

  it('writes drill.json and a report.html that opens in headless Chromium with no console error', async () => {
    const out = path.join(dir, 'out');
    const meta = { runId: 'test', target: target.name, startedAt: result.startedAt, finishedAt: new Date().toISOString(), rate: 25, faultS: FAULT_MS / 1000, interrupted: false };
    const files = await writeOutputs(out, meta, config, target, [result]);
    const html = (await import('node:fs')).readFileSync(files.html, 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained: nothing to run or fetch
    const journal = JSON.parse((await import('node:fs')).readFileSync(files.json, 'utf8')) as { scenarios: { ledger: unknown[][]; verdict: { status: string } }[] };
    expect(journal.scenarios[0]!.ledger.length).toBe(result.ledger.length);

    const browser = await chromium.launch({ executablePath: process.env.SHA_UI_CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => !r.url().startsWith('file:') && requests.push(r.url()));
      await page.goto(pathToFileURL(files.html).href);
      expect(await page.locator('section#replica-crash svg').count()).toBe(2);
      // One point per request in the scatter (vega draws each as a path with the outcome's colour).
      expect(await page.locator('section#replica-crash figure').first().locator('svg .mark-symbol.role-mark path').count()).toBe(result.ledger.length);
      expect(await page.locator('table.checks tbody tr').count()).toBe(result.verdict.checks.length);
      mkdirSync(path.join(RUN_DIR, 'drills'), { recursive: true });
      await page.screenshot({ path: path.join(RUN_DIR, 'drills', 'test-report.png'), fullPage: true });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
    writeFileSync(path.join(dir, 'done'), '');
  });
});
