import { latencySpec, OUTCOME_COLOURS, rateSpec, toSvg } from './charts.ts';
import type { ScenarioResult } from './runner.ts';
import { lat, SUMMARY_COLUMNS, summaryRow } from './summary.ts';
import { merge } from './verdict.ts';

// The self-contained report.html: inline CSS and inline SVG, no script, nothing fetched, so it opens from a
// postmortem's attachments years later.

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const badge = (s: string) => `<span class="v ${s}">${s.toUpperCase()}</span>`;

export interface ReportMeta {
  readonly runId: string;
  readonly target: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly rate: number;
  readonly faultS: number;
  readonly interrupted: boolean;
}

async function section(r: ScenarioResult): Promise<string> {
  const end = Math.max(r.marks.recovered, ...r.ledger.map((e) => e.end), 1000);
  const [chart, strip] = await Promise.all([toSvg(latencySpec(r.ledger, r.marks, end)), toSvg(rateSpec(r.ledger, r.marks, end))]);
  const f = r.figures;
  const fig: [string, string][] = [
    ['requests (counted)', `${f.requests} (${f.counted})`],
    ['client errors', `${f.clientErrors}: ${f.failed} failed, ${f.indeterminate} indeterminate`],
    ['of which unsafe, in flight as the fault landed', `${f.inFlightAtFault} (may have run; not judged)`],
    ['judged client errors', `${f.judgedErrors} (${f.clientErrorPct}%)`],
    ['error codes', Object.entries(f.errorCodes).map(([k, v]) => `${k} × ${v}`).join(', ') || '—'],
    ['shed (in-flight cap)', String(f.shed)],
    ['SQL Lab executes sent / rows recorded', `${f.unsafeSent} / ${f.unsafeExecuted ?? 'not counted'}`],
    ['replayed unsafe requests', String(f.replayedUnsafe ?? 'not counted')],
    ['ran although the client saw an error', String(f.unsafeRanThoughFailed ?? '—')],
    ['time to detect', f.detectS === null ? '—' : `${f.detectS} s`],
    ['time until no sidecar routes to the failed part', f.isolateS === null ? '—' : `${f.isolateS} s`],
    ['sent to it after isolation (routers\' counter)', String(f.sentToFailedAfterIsolation ?? '—')],
    ['flaps', String(f.flaps)],
    ['healing took (e.g. the replica booting)', f.healS === null ? '—' : `${f.healS} s`],
    ['time to recover after healing', f.recoverS === null ? '—' : `${f.recoverS} s`],
    ['latency p50/p99/max before (ms)', lat(f.latency.before)],
    ['latency p50/p99/max during (ms)', lat(f.latency.during)],
    ['latency p50/p99/max after (ms)', lat(f.latency.after)],
  ];
  return `<section id="${esc(r.name)}">
<h2>${esc(r.name)} ${badge(r.verdict.status)}</h2>
<p class="what">${esc(r.what)}. Victim: replica <b>${esc(r.victim.replica)}</b>, sidecar <b>${esc(r.victim.sidecar)}</b>.</p>
${r.verdict.reasons.length ? `<ul class="reasons">${r.verdict.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : ''}
<figure>${chart}<figcaption>Every request: start time × latency (log), coloured by outcome; grey band: fault window; dashed: fault, heal, recovered.</figcaption></figure>
<figure>${strip}</figure>
<div class="cols">
<table class="fig"><tbody>${fig.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>
<div>
<table class="checks"><thead><tr><th>check</th><th>value</th><th>limit</th><th></th></tr></thead><tbody>
${r.verdict.checks.map((c) => `<tr><td>${esc(c.name)}</td><td>${esc(String(c.value ?? '—'))}</td><td>${esc(String(c.limit))}</td><td>${badge(c.status)}</td></tr>`).join('\n')}
</tbody></table>
<h3>What /metrics should have shown</h3>
<ul class="story">${f.story.map((s) => `<li class="${s.ok ? 'ok' : 'no'}">${s.ok ? '✔' : '✘'} ${esc(s.say)}</li>`).join('') || '<li>no samples</li>'}</ul>
<h3>Timeline</h3>
<ol class="tl">${r.timeline.map((e) => `<li><code>${(e.t / 1000).toFixed(1)} s</code> ${esc(e.kind)}${e.detail ? `: ${esc(e.detail)}` : ''}</li>`).join('')}</ol>
${r.notes.length ? `<h3>Notes</h3><ul>${r.notes.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : ''}
</div></div>
</section>`;
}

export async function renderReport(meta: ReportMeta, results: readonly ScenarioResult[]): Promise<string> {
  const overall = merge(results.map((r) => r.verdict.status));
  const sections = [];
  for (const r of results) sections.push(await section(r));
  const rows = results.map((r) => summaryRow(r).map((c, i) => (i === 0 ? `<a href="#${esc(r.name)}">${esc(c)}</a>` : i === 1 ? badge(r.verdict.status) : esc(c))));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>superset-ha drill ${esc(meta.runId)}: ${overall}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:18px;border-top:1px solid #ddd;padding-top:14px}h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
thead th{background:#f4f4f4}.fig th{background:#fafafa;font-weight:500;width:260px}
.v{font-weight:600;padding:1px 6px;border-radius:3px;font-size:12px}.v.pass{background:#d8f3dc;color:#1b5e20}.v.fail{background:#ffd6e7;color:#a0003a}.v.unknown{background:#fff1cc;color:#7a5200}
.cols{display:flex;gap:18px;flex-wrap:wrap}.reasons{color:#a0003a}.story .no{color:#a0003a}.story .ok{color:#1b5e20}
figure{margin:8px 0}figcaption{font-size:12px;color:#666}.tl{padding-left:18px;margin:0}.key span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:50%}
</style></head><body>
<h1>superset-ha drill ${badge(overall)}</h1>
<p>Run <code>${esc(meta.runId)}</code> against <b>${esc(meta.target)}</b>, ${esc(meta.startedAt)} → ${esc(meta.finishedAt)}; load ${meta.rate} requests/s through every sidecar; faults held ${meta.faultS} s${meta.interrupted ? '; <b>interrupted</b> (Ctrl-C): faults were healed' : ''}.
<span class="key">Outcomes:${Object.entries(OUTCOME_COLOURS).map(([k, c]) => `<span style="background:${c}"></span>${k}`).join('')}</span></p>
<table><thead><tr>${SUMMARY_COLUMNS.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}
</tbody></table>
<p style="font-size:12px;color:#666">errors: failed + indeterminate requests (a timeout, or SHA_PROXY_NOT_REPLAYED: it may have run), +N: unsafe requests in flight as the fault landed (they may have run; no proxy can save them; not judged); replayed: extra rows in Superset's query table / SQL Lab executes sent; latencies p50/p99/max in ms; metrics: whether /metrics told the story.</p>
${sections.join('\n')}
</body></html>
`;
}
