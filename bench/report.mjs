#!/usr/bin/env node
// Side-by-side table of benchmark results (JSONL written by run.sh), one row per server per
// workload, with the server's CPU cost relative to Hocuspocus for the same workload.
//   node bench/report.mjs bench/results/<timestamp>.jsonl [more.jsonl ...]
// With several files (or repeated runs), the last result per (server, workload) wins.

import { readFileSync } from 'node:fs'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: node report.mjs RESULTS.jsonl [...]')
  process.exit(2)
}

const rows = new Map()
for (const file of files) {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue
    const r = JSON.parse(line)
    rows.set(`${r.workload}\u0000${r.server}`, r)
  }
}

const f = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v)) ? '-' : Number(v).toFixed(d)
const pct = (v) => v === null || v === undefined ? '-' : (v * 100).toFixed(v >= 0.9995 ? 0 : 1)
// Client mode plus the non-default options that change what the server receives.
const mode = (r) => r.client_mode + (r.awareness_echo ? '+echo' : '') + (r.deflate ? '+deflate' : '')
const ratio = (a, b) => (a == null || b == null || b === 0) ? '-' : (a / b).toFixed(2) + 'x'

function table (header, body) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)))
  const fmt = (r) => r.map((c, i) => i < 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])).join('  ')
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n')
}

const workloads = [...new Set([...rows.values()].map((r) => r.workload))]
const out = []
for (const w of workloads) {
  const list = [...rows.values()].filter((r) => r.workload === w)
  const base = list.find((r) => r.server === 'hocuspocus' && !r.error)
  if (w === 'join-storm') {
    out.push(table(
      ['server', 'workload', 'mode', 'joined', 'all synced s', 'p50 ms', 'p99 ms', 'srv cpu s', 'vs hocuspocus', 'peak RSS MiB', 'lg cpu %', 'other cpu %'],
      list.map((r) => r.error
        ? [r.server, w, '-', r.error, '', '', '', '', '', '', '', '']
        : [r.server, w, mode(r), `${r.joined}/${r.clients}`, f(r.all_synced_s, 2), f(r.per_client_ms.p50, 0), f(r.per_client_ms.p99, 0),
            f(r.server_cpu_s, 2), ratio(r.server_cpu_s, base?.server_cpu_s), f(r.server_peak_rss_mib, 0), f(r.loadgen_cpu_pct, 0), f(r.other_cpu_pct, 0)])
    ))
  } else {
    out.push(table(
      ['server', 'workload', 'mode', 'clients', 'doc deliv %', 'doc p50', 'doc p99', 'cur deliv %', 'cur p50', 'cur p99', 'srv cpu %', 'cpu ms/upd', 'vs hocuspocus', 'peak RSS MiB', 'lg cpu %', 'lg lag p99', 'other cpu %'],
      list.map((r) => r.error
        ? [r.server, w, '-', r.error, '', '', '', '', '', '', '', '', '', '', '', '', '']
        : [r.server, w, mode(r), `${r.rooms}x${r.clients}`, pct(r.doc.delivered_frac), f(r.doc.latency_ms.p50), f(r.doc.latency_ms.p99),
            pct(r.cursor.delivered_frac), f(r.cursor.latency_ms.p50), f(r.cursor.latency_ms.p99), f(r.server_cpu_pct, 0),
            f(r.cpu_ms_per_delivered_update, 4), ratio(r.cpu_ms_per_delivered_update, base?.cpu_ms_per_delivered_update),
            f(r.server_peak_rss_mib, 0), f(r.loadgen_cpu_pct, 0), f(r.loadgen_loop_delay_p99_ms, 0), f(r.other_cpu_pct, 0)])
    ))
  }
}
console.log(out.join('\n\n'))
console.log('\nlatencies in ms; cpu ms/upd = server CPU per delivered (update, receiver) pair; ' +
  '"vs hocuspocus" divides that (join-storm: server CPU seconds) by Hocuspocus\' figure; ' +
  'lg = load generator (lag = its event-loop delay, ms); other = rest of the machine (high = noisy run).')
