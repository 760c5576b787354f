/*
 * grove dashboard (admin.html): loaded models with a reload button, the batching settings,
 * and live charts from GET /metrics (Prometheus text parsed here, scraped every second).
 * Charts use the vendored uPlot (vendor/uPlot). No build step.
 */
'use strict';

(() => {
  const SCRAPE_MS = 1000;
  const WINDOW_POINTS = 120;          // two minutes of one-second points
  const BATCH_WINDOW_S = 60;          // batch-size distribution over the last minute
  const TILE_LATENCY_WINDOW_S = 10;   // p50/p99 tiles: the last ten seconds
  const TOKEN_KEY = 'grove-admin-token';

  const $ = (id) => document.getElementById(id);

  const { el } = window.groveUi; /* common.js */

  const fmtRate = (x) => (x === null || !Number.isFinite(x) ? '–' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const fmtMs = (s) => (s === null || !Number.isFinite(s) ? '–' : s * 1000 < 1 ? (s * 1e6).toFixed(0) + ' µs' : s * 1000 < 10 ? (s * 1000).toFixed(2) + ' ms' : s * 1000 < 100 ? (s * 1000).toFixed(1) + ' ms' : (s * 1000).toFixed(0) + ' ms');
  const fmtBytes = (b) => (b >= 1 << 30 ? (b / (1 << 30)).toFixed(1) + ' GiB' : b >= 1 << 20 ? (b / (1 << 20)).toFixed(1) + ' MiB' : b >= 1024 ? (b / 1024).toFixed(0) + ' KiB' : b + ' B');
  function fmtDuration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const pad = (n) => String(n).padStart(2, '0');
    return d ? `${d}d ${h}h ${pad(m)}m` : h ? `${h}h ${pad(m)}m ${pad(sec)}s` : m ? `${m}m ${pad(sec)}s` : `${sec}s`;
  }
  function fmtTime(unix) {
    const d = new Date(unix * 1000);
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  }

  /* ---------------------------------------------------------------- Prometheus text */

  function parseValue(v) {
    if (v === '+Inf' || v === 'Inf') return Infinity;
    if (v === '-Inf') return -Infinity;
    return Number(v);
  }

  /* Returns [{name, labels: {k: v}, value}] for every sample line (comments and blank lines skipped). */
  function parseProm(text) {
    const out = [];
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line[0] === '#') continue;
      let i = 0;
      while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) i++;
      const name = line.slice(0, i);
      const labels = {};
      if (line[i] === '{') {
        i++;
        for (;;) {
          while (line[i] === ' ' || line[i] === ',') i++;
          if (line[i] === '}' || i >= line.length) { i++; break; }
          const eq = line.indexOf('=', i);
          if (eq < 0) break;
          const key = line.slice(i, eq).trim();
          i = eq + 1;
          if (line[i] !== '"') break;
          i++;
          let val = '';
          while (i < line.length && line[i] !== '"') {
            if (line[i] === '\\' && i + 1 < line.length) {
              const c = line[i + 1];
              val += c === 'n' ? '\n' : c;
              i += 2;
            } else {
              val += line[i++];
            }
          }
          i++; // closing quote
          labels[key] = val;
        }
      }
      const fields = line.slice(i).trim().split(/\s+/);
      if (!name || fields.length === 0 || fields[0] === '') continue;
      out.push({ name, labels, value: parseValue(fields[0]) });
    }
    return out;
  }

  /* Cumulative histogram buckets [{le, count}] sorted by le, for samples matching FILTER,
     summed over the series that match (every model's, say): the sum of cumulative buckets is
     the cumulative histogram of the union. */
  function buckets(samples, name, filter) {
    const byLe = new Map();
    for (const s of samples) {
      if (s.name !== name + '_bucket' || (filter && !filter(s.labels))) continue;
      const le = parseValue(s.labels.le);
      byLe.set(le, (byLe.get(le) || 0) + s.value);
    }
    const b = [...byLe].map(([le, count]) => ({ le, count }));
    b.sort((x, y) => x.le - y.le);
    return b;
  }

  /* The sum of NAME's samples whose labels match FILTER (all of them without one). */
  const total = (samples, name, filter) => samples.reduce((a, s) => a + (s.name === name && (!filter || filter(s.labels)) ? s.value : 0), 0);

  /* histogram_quantile as Prometheus computes it: linear interpolation inside the bucket. */
  function quantile(q, cum) {
    if (!cum.length) return null;
    const total = cum[cum.length - 1].count;
    if (!(total > 0)) return null;
    const rank = q * total;
    let prevLe = 0;
    let prevCount = 0;
    for (const b of cum) {
      if (b.count >= rank) {
        if (b.le === Infinity) return prevLe;
        const inBucket = b.count - prevCount;
        return prevLe + (b.le - prevLe) * (inBucket > 0 ? (rank - prevCount) / inBucket : 1);
      }
      prevLe = b.le;
      prevCount = b.count;
    }
    return prevLe;
  }

  const bucketDelta = (cur, old) => cur.map((b, k) => ({ le: b.le, count: b.count - (old && old[k] && old[k].le === b.le ? old[k].count : 0) }));

  /* What one scrape says, summed over models where the series carry a model label; the
     per-model counts go in `models` for the breakdown under the totals. */
  function snapshot(samples) {
    const one = (name) => { const s = samples.find((x) => x.name === name); return s ? s.value : 0; };
    const requests = samples.filter((s) => s.name === 'grove_requests_total')
      .map((s) => ({ route: s.labels.route || '', model: s.labels.model || '', code: s.labels.code || '', value: s.value }));
    const scoringRoute = (r) => r.route === 'predict' || r.route === 'infer';
    const models = {};
    for (const s of samples) {
      if (s.name === 'grove_rows_predicted_total' && s.labels.model) models[s.labels.model] = { requests: 0, rows: s.value };
    }
    for (const r of requests) if (scoringRoute(r) && models[r.model]) models[r.model].requests += r.value;
    return {
      wall: Date.now() / 1000,
      start: one('process_start_time_seconds'),
      version: (samples.find((s) => s.name === 'grove_build_info') || { labels: {} }).labels.version,
      requests,
      scoring: requests.filter(scoringRoute).reduce((a, r) => a + r.value, 0),
      rows: total(samples, 'grove_rows_predicted_total'),
      models,
      latency: buckets(samples, 'grove_request_duration_seconds', (l) => l.route === 'predict'),
      batchRows: buckets(samples, 'grove_batch_rows'),
      inflight: one('grove_inflight_requests'),
      queued: one('grove_queued_rows'),
    };
  }

  /* ---------------------------------------------------------------- charts */

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
  const PALETTE = ['#1f6feb', '#e8590c', '#2f9e44', '#ae3ec9', '#0c8599', '#f08c00', '#c2255c', '#5c7cfa'];
  const STATUS_COLORS = { 400: '#e8590c', 401: '#ae3ec9', 403: '#7048e8', 404: '#0c8599', 405: '#5c7cfa', 413: '#f08c00', 415: '#2f9e44', 422: '#c2255c', 500: '#e03131', 503: '#c92a2a', 504: '#862e9c' };
  const charts = {};
  const series = { t: [], rps: [], rowsps: [], p50: [], p99: [], inflight: [], queued: [], status: {} };

  function axisStyle() {
    const stroke = css('--muted');
    const grid = { stroke: css('--border'), width: 1 };
    return { stroke, grid, ticks: { stroke: css('--border'), width: 1 }, font: '11px system-ui, sans-serif' };
  }

  function chartWidth(id) { return Math.max(240, Math.floor($(id).clientWidth)); }

  function lineChart(id, seriesDefs, yLabel, yFmt) {
    const a = axisStyle();
    const opts = {
      width: chartWidth(id),
      height: 190,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [
        { ...a, space: 70, values: (u, splits) => splits.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })) },
        { ...a, size: 56, label: yLabel, labelSize: 16, labelFont: '11px system-ui, sans-serif', values: (u, splits) => splits.map(yFmt) },
      ],
      series: [{ value: (u, v) => (v === null ? '–' : new Date(v * 1000).toLocaleTimeString()) }].concat(seriesDefs.map((s) => ({
        label: s.label, stroke: s.color, width: 2, spanGaps: false, dash: s.dash,
        points: s.points ? { show: true, size: 5, fill: s.color } : { show: false },
        value: (u, v) => (v === null ? '–' : s.fmt(v)), scale: s.scale || 'y',
      }))),
    };
    if (seriesDefs.some((s) => s.scale === 'y2')) {
      opts.scales.y2 = { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] };
      opts.axes.push({ ...a, scale: 'y2', side: 1, size: 56, grid: { show: false }, values: (u, splits) => splits.map(seriesDefs.find((s) => s.scale === 'y2').axisFmt) });
    }
    const data = [[]].concat(seriesDefs.map(() => []));
    const u = new uPlot(opts, data, $(id));
    watchSize(u, id);
    return u;
  }

  const BATCH_LABELS = ['1', '2', '4', '8', '16', '32', '64', '128', '256', '512', '1k', '2k', '4k', '8k', '16k', '32k', '64k', '>64k'];
  const leLabel = (le) => (le === Infinity ? '+Inf' : le >= 1024 ? le / 1024 + 'k' : String(le));

  function barChart(id) {
    const a = axisStyle();
    const color = css('--accent');
    const opts = {
      width: chartWidth(id),
      height: 190,
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { show: false },
      scales: { x: { time: false, range: (u) => [-0.6, Math.max(1, u.data[0].length) - 0.4] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [
        { ...a, space: 28, grid: { show: false }, incrs: [1, 2, 4, 8], values: (u, splits) => splits.map((v) => (Number.isInteger(v) && v >= 0 && v < BATCH_LABELS.length ? BATCH_LABELS[v] : '')) },
        { ...a, size: 48, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : '')) },
      ],
      series: [
        { label: 'batch rows ≤', value: (u, v) => (v === null ? '–' : BATCH_LABELS[v]) },
        { label: 'batches', fill: color + 'cc', stroke: color, width: 1, points: { show: false }, paths: uPlot.paths.bars({ size: [0.75, 40] }) },
      ],
    };
    const u = new uPlot(opts, [BATCH_LABELS.map((_, k) => k), BATCH_LABELS.map(() => 0)], $(id));
    watchSize(u, id);
    return u;
  }

  function watchSize(u, id) {
    if (!window.ResizeObserver) return;
    let last = 0;
    new ResizeObserver(() => {
      const w = chartWidth(id);
      if (w !== last) { last = w; u.setSize({ width: w, height: 190 }); }
    }).observe($(id));
  }

  function initCharts() {
    const perSec = (v) => fmtRate(v);
    charts.throughput = lineChart('chart-throughput', [
      { label: 'requests/s', color: PALETTE[0], fmt: perSec },
      { label: 'rows/s (right axis)', color: PALETTE[1], fmt: perSec, scale: 'y2', axisFmt: (v) => compact(v), dash: [6, 4] },
    ], 'requests/s', (v) => compact(v));
    charts.latency = lineChart('chart-latency', [
      { label: 'p50', color: PALETTE[2], fmt: fmtMs, points: true },
      { label: 'p99', color: PALETTE[6], fmt: fmtMs, points: true },
    ], 'latency', (v) => (v === 0 ? '0' : fmtMs(v).replace(' ', '')));
    charts.batch = barChart('chart-batch');
    charts.queue = lineChart('chart-queue', [
      { label: 'queued rows', color: PALETTE[5], fmt: (v) => String(Math.round(v)) },
      { label: 'in-flight requests (right axis)', color: PALETTE[3], fmt: (v) => String(Math.round(v)), scale: 'y2', axisFmt: (v) => compact(v), dash: [6, 4] },
    ], 'rows', (v) => compact(v));
    charts.status = lineChart('chart-status', [], 'responses/s', (v) => compact(v));
  }

  function compact(v) {
    if (!Number.isFinite(v)) return '';
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
    return Number.isInteger(v) ? String(v) : v.toFixed(a < 1 ? 2 : 1);
  }

  function push(arr, v) { arr.push(v); if (arr.length > WINDOW_POINTS) arr.shift(); }

  /* ---------------------------------------------------------------- scraping */

  const history = []; // snapshots, newest last, about WINDOW_POINTS of them
  let prev = null;

  function snapshotAgo(cur, seconds) {
    for (let k = history.length - 1; k >= 0; k--) if (cur.wall - history[k].wall >= seconds) return history[k];
    return history.length ? history[0] : null;
  }

  function update(cur) {
    // Another process start time (or counters going back) is a restarted daemon: counters start again.
    const reset = prev && (cur.start !== prev.start || cur.scoring < prev.scoring);
    if (reset) { history.length = 0; prev = null; }
    const dt = prev ? cur.wall - prev.wall : 0;
    const rate = (a, b) => (prev && dt > 0 ? Math.max(0, a - b) / dt : null);

    const rps = rate(cur.scoring, prev && prev.scoring);
    const rowsps = rate(cur.rows, prev && prev.rows);
    const latDelta = prev ? bucketDelta(cur.latency, prev.latency) : [];
    const p50 = prev ? quantile(0.5, latDelta) : null;
    const p99 = prev ? quantile(0.99, latDelta) : null;

    push(series.t, cur.wall);
    push(series.rps, rps);
    push(series.rowsps, rowsps);
    push(series.p50, p50);
    push(series.p99, p99);
    push(series.queued, cur.queued);
    push(series.inflight, cur.inflight);

    // Error responses per status code, summed over routes.
    const byCode = {};
    for (const r of cur.requests) byCode[r.code] = (byCode[r.code] || 0) + r.value;
    const prevByCode = {};
    if (prev) for (const r of prev.requests) prevByCode[r.code] = (prevByCode[r.code] || 0) + r.value;
    let errRate = prev ? 0 : null;
    for (const code of Object.keys(byCode).sort()) {
      if (Number(code) < 400) continue;
      if (!series.status[code]) {
        series.status[code] = series.t.map(() => 0);
        series.status[code].pop();
        const color = STATUS_COLORS[code] || PALETTE[Object.keys(series.status).length % PALETTE.length];
        charts.status.addSeries({ label: `HTTP ${code}`, stroke: color, width: 2, points: { show: false }, value: (u, v) => (v === null ? '–' : fmtRate(v)) });
      }
      const r = rate(byCode[code], prevByCode[code] || 0);
      push(series.status[code], r);
      if (r !== null) errRate += r;
    }
    for (const code of Object.keys(series.status)) if (series.status[code].length < series.t.length) push(series.status[code], prev ? 0 : null);

    history.push(cur);
    while (history.length > WINDOW_POINTS + 5) history.shift();

    // Tiles.
    $('stat-rps').textContent = fmtRate(rps);
    $('stat-rows').textContent = fmtRate(rowsps);
    const old = snapshotAgo(cur, TILE_LATENCY_WINDOW_S);
    const tileLat = old && old !== cur ? bucketDelta(cur.latency, old.latency) : cur.latency;
    $('stat-p50').textContent = fmtMs(quantile(0.5, tileLat));
    $('stat-p99').textContent = fmtMs(quantile(0.99, tileLat));
    $('stat-inflight').textContent = String(cur.inflight);
    $('stat-queued').textContent = String(cur.queued);
    $('stat-errors').textContent = fmtRate(errRate);
    $('stat-uptime').textContent = cur.start > 0 ? fmtDuration(Math.max(0, cur.wall - cur.start)) : '–';

    // Charts.
    charts.throughput.setData([series.t, series.rps, series.rowsps]);
    charts.latency.setData([series.t, series.p50, series.p99]);
    charts.queue.setData([series.t, series.queued, series.inflight]);
    charts.status.setData([series.t].concat(Object.keys(series.status).map((c) => series.status[c])));
    const oldB = snapshotAgo(cur, BATCH_WINDOW_S);
    const dist = bucketDelta(cur.batchRows, oldB && oldB !== cur ? oldB.batchRows : null);
    const counts = dist.map((b, k) => b.count - (k > 0 ? dist[k - 1].count : 0));
    charts.batch.setData([counts.map((_, k) => k), counts]);
    if (dist.length) BATCH_LABELS.splice(0, BATCH_LABELS.length, ...dist.map((b, k) => (b.le === Infinity && k > 0 ? '>' + leLabel(dist[k - 1].le) : leLabel(b.le))));

    // Totals table.
    const tbody = $('totals-body');
    tbody.textContent = '';
    const routeText = (r) => (r.model ? `${r.route} · ${r.model}` : r.route);
    for (const r of [...cur.requests].sort((a, b) => a.route.localeCompare(b.route) || a.model.localeCompare(b.model) || a.code.localeCompare(b.code))) {
      tbody.append(el('tr', {}, el('td', { text: routeText(r) }), el('td', { text: r.code }), el('td', { class: 'num', text: r.value.toLocaleString('en-US') })));
    }
    // Per model: rows so far, and requests/s and rows/s since the last scrape.
    const perModel = Object.keys(cur.models).sort().map((name) => {
      const m = cur.models[name], p = prev && prev.models[name];
      return `${name} ${m.rows.toLocaleString('en-US')} (${fmtRate(rate(m.requests, p ? p.requests : 0))} req/s, ${fmtRate(rate(m.rows, p ? p.rows : 0))} rows/s)`;
    });
    $('totals-note').textContent = `Rows predicted: ${cur.rows.toLocaleString('en-US')}${perModel.length ? ` — ${perModel.join(', ')}` : ''}. This page itself scrapes /metrics once a second.`;
    prev = cur;
  }

  async function scrape() {
    try {
      const res = await fetch('/metrics', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const cur = snapshot(parseProm(await res.text()));
      update(cur);
      $('conn-status').textContent = `live · grove ${cur.version || ''}`.trim();
    } catch (err) {
      $('conn-status').textContent = `cannot read /metrics: ${err.message}`;
    }
    setTimeout(scrape, SCRAPE_MS);
  }

  /* ---------------------------------------------------------------- admin calls */

  let pendingAuth = [];

  function authHeaders() {
    const t = sessionStorage.getItem(TOKEN_KEY);
    return t ? { Authorization: `Bearer ${t}` } : {};
  }

  async function adminFetch(url, opts) {
    const res = await fetch(url, { ...(opts || {}), headers: { Accept: 'application/json', ...authHeaders() } });
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch (_) { /* plain text */ }
    return { status: res.status, ok: res.ok, data, text, error: (data && data.error) || text.trim() || res.statusText };
  }

  /* A 401: ask for the token, then run RETRY. */
  function needToken(retry, message) {
    pendingAuth.push(retry);
    const had = !!sessionStorage.getItem(TOKEN_KEY);
    $('token-why').textContent = had
      ? `The server refused the token (${message}). Enter the right one; it is kept in this tab's session storage only.`
      : 'This server needs an admin token (--admin-token) for /admin/…. It is kept in this tab\'s session storage only.';
    const panel = $('token-panel');
    const wasHidden = panel.hidden;
    panel.hidden = false;
    if (wasHidden) $('token-input').focus();
  }

  function initToken() {
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('token-input').value.trim();
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      $('token-input').value = '';
      $('token-panel').hidden = true;
      const todo = pendingAuth;
      pendingAuth = [];
      for (const f of todo) f();
    });
    $('token-forget').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      $('token-input').value = '';
      $('token-why').textContent = 'Token forgotten.';
    });
  }

  async function loadConfig() {
    const box = $('config');
    let r;
    try {
      r = await adminFetch('/admin/config');
    } catch (err) {
      box.textContent = '';
      box.append(el('div', {}, el('dt', { text: 'error' }), el('dd', { text: err.message })));
      return;
    }
    if (r.status === 401) {
      box.textContent = '';
      box.append(el('div', {}, el('dt', { text: 'status' }), el('dd', { text: 'admin token needed' })));
      needToken(loadConfig, r.error);
      return;
    }
    box.textContent = '';
    if (!r.ok || !r.data) {
      box.append(el('div', {}, el('dt', { text: `HTTP ${r.status}` }), el('dd', { text: r.error })));
      return;
    }
    const c = r.data;
    const items = [
      ['max batch rows', c.max_batch_rows], ['max delay', c.max_delay_us !== undefined ? `${c.max_delay_us} µs` : undefined],
      ['workers', c.workers], ['I/O threads', c.io_threads],
      ['max queue rows', c.max_queue_rows], ['deadline', c.deadline_ms !== undefined ? `${c.deadline_ms} ms` : undefined],
      ['max body', c.max_body !== undefined ? fmtBytes(c.max_body) : undefined], ['ISA / kernel', [c.isa, c.kernel].filter(Boolean).join(' / ')],
      ['version', c.version],
    ];
    const known = new Set(['max_batch_rows', 'max_delay_us', 'workers', 'io_threads', 'max_queue_rows', 'deadline_ms', 'max_body', 'isa', 'kernel', 'version']);
    for (const [k, v] of Object.entries(c)) if (!known.has(k)) items.push([k.replace(/_/g, ' '), typeof v === 'object' ? JSON.stringify(v) : v]);
    for (const [k, v] of items) {
      if (v === undefined || v === '') continue;
      box.append(el('div', {}, el('dt', { text: k }), el('dd', { text: typeof v === 'number' ? v.toLocaleString('en-US') : String(v) })));
    }
  }

  const reloadStatus = {}; // model name -> {ok, text}

  async function loadModels() {
    let r;
    try {
      r = await adminFetch('/v1/models');
    } catch (err) {
      r = { ok: false, status: 0, error: err.message };
    }
    const errBox = $('models-error');
    if (!r.ok || !r.data) {
      errBox.textContent = `Cannot list the models: ${r.error}`;
      errBox.hidden = false;
      return;
    }
    errBox.hidden = true;
    const models = r.data.models || [];
    // The list gives the number of classes; the detail has the schema's labels.
    await Promise.all(models.map(async (m) => {
      try {
        const d = await adminFetch(`/v1/models/${encodeURIComponent(m.name)}`);
        if (d.ok && d.data && Array.isArray(d.data.classes)) m.classes = d.data.classes;
      } catch (_) { /* keep the count */ }
    }));
    $('models-note').textContent = `${models.length} loaded`;
    const tbody = $('models-body');
    tbody.textContent = '';
    for (const m of models) {
      const classes = Array.isArray(m.classes) ? m.classes.join(', ') : m.classes === null || m.classes === undefined ? '—' : String(m.classes);
      const btn = el('button', { type: 'button', class: 'small-btn', 'data-model': m.name, 'aria-label': `Reload model ${m.name} from disk`, text: 'Reload' });
      const st = reloadStatus[m.name];
      const status = el('span', { class: `row-status${st ? (st.ok ? ' ok' : ' err') : ''}`, 'data-status-for': m.name, role: 'status', text: st ? st.text : '' });
      btn.addEventListener('click', () => reload(m.name));
      tbody.append(el('tr', { 'data-model-row': m.name },
        el('th', { scope: 'row' }, el('div', { class: 'model-cell' },
          el('a', { href: `./?model=${encodeURIComponent(m.name)}`, text: m.name }), btn), status),
        el('td', { text: m.source_model ? `${m.format} (${m.source_model})` : m.format }), el('td', { text: m.objective }),
        el('td', { class: 'num', text: String(m.trees) }), el('td', { class: 'num', text: String(m.max_depth) }),
        el('td', { class: 'num', text: String(m.num_features) }), el('td', { text: classes }),
        el('td', { class: 'num', text: fmtBytes(m.memory_bytes) }), el('td', { class: 'wrap', text: `${m.isa} / ${m.kernel}` }),
        el('td', {}, fmtTime(m.loaded_at), el('span', { class: 'sub', text: `in ${fmtMs(m.load_seconds)}` })),
        el('td', { class: 'num', 'data-reloads': m.name, text: String(m.reloads ?? 0) })));
    }
  }

  async function reload(name) {
    const btn = document.querySelector(`button[data-model="${CSS.escape(name)}"]`);
    const status = document.querySelector(`[data-status-for="${CSS.escape(name)}"]`);
    if (btn) btn.disabled = true;
    if (status) { status.className = 'row-status'; status.textContent = 'reloading…'; }
    let r;
    try {
      r = await adminFetch(`/admin/models/${encodeURIComponent(name)}/reload`, { method: 'POST' });
    } catch (err) {
      r = { ok: false, status: 0, error: err.message };
    }
    if (btn) btn.disabled = false;
    if (r.status === 401) {
      reloadStatus[name] = { ok: false, text: 'admin token needed' };
      if (status) { status.className = 'row-status err'; status.textContent = 'admin token needed'; }
      needToken(() => reload(name), r.error);
      return;
    }
    reloadStatus[name] = r.ok
      ? { ok: true, text: `reloaded at ${new Date().toLocaleTimeString()}` }
      : { ok: false, text: `HTTP ${r.status}: ${r.error}` };
    await loadModels();
  }

  function start() {
    initToken();
    initCharts();
    loadModels();
    loadConfig();
    setInterval(loadModels, 15000);
    scrape();
  }

  window.groveAdmin = { parseProm, quantile, buckets, snapshot, series, charts, history };
  document.addEventListener('DOMContentLoaded', start);
})();
