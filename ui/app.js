/*
 * grove prediction page (index.html): a form built from the model's schema, one-record
 * predictions with the raw request/response and a curl line, and CSV batch scoring through
 * the same API in chunks. Plain browser JavaScript, no dependencies, no build step.
 */
'use strict';

(() => {
  const CHUNK_ROWS = 1000;      // rows per predict request when scoring a CSV
  const PREVIEW_ROWS = 10;      // rows shown in the batch table
  const FAILURES_SHOWN = 5;     // rows that failed, listed with their reason
  const MISSING = new Set(['', 'NA', 'NaN', 'nan']);

  const $ = (id) => document.getElementById(id);
  const EXPLAIN_TOP = 8;        // features drawn one by one in the explanation; the rest are summed
  const state = { models: [], meta: null, features: [], lastCurl: '', downloadUrl: null, batch: null, batchFile: null, batchGen: 0 };

  /* ---------------------------------------------------------------- helpers */

  const { el } = window.groveUi; /* common.js */

  const fmtNum = (x) => (typeof x === 'number' && Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: 6 }) : String(x));
  const fmtMs = (ms) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
  const fmtBytes = (b) => (b >= 1 << 20 ? (b / (1 << 20)).toFixed(1) + ' MiB' : b >= 1024 ? (b / 1024).toFixed(0) + ' KiB' : b + ' B');
  const predictPath = (name) => `/v1/models/${encodeURIComponent(name)}/predict`;
  const shellQuote = (s) => "'" + s.replace(/'/g, "'\\''") + "'";

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: 'application/json' } });
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new Error(`${url}: ${res.status} ${(data && data.error) || text.trim() || res.statusText}`);
    if (data === null) throw new Error(`${url}: the answer is not JSON`);
    return data;
  }

  /* POST a predict body; resolves to {res, text, data, ms} and never throws on HTTP errors. */
  async function postPredict(name, bodyText) {
    const t0 = performance.now();
    const res = await fetch(predictPath(name), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: bodyText,
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    let data = null;
    try { data = JSON.parse(text); } catch (_) { /* 413 from h2o is plain text */ }
    return { res, text, data, ms };
  }

  const errorText = (r) => (r.data && r.data.error) || r.text.trim() || r.res.statusText || 'request failed';

  /* ---------------------------------------------------------------- models */

  function featuresOf(meta) {
    const schema = meta.schema;
    if (schema && Array.isArray(schema.features) && schema.features.length > 0) return schema.features;
    const n = meta.num_features || 0;
    return Array.from({ length: n }, (_, i) => ({ name: 'f' + i, type: 'numeric' }));
  }

  /* Whether to ask for "explain": the model's metadata says (#16), so a model that cannot be
   * explained is never sent a request that is bound to be refused. */
  const canExplain = (meta) => meta.explainable === true;
  const explainReason = (meta) => meta.explain_error || 'the server does not say that it can be explained';

  function classNames(meta) {
    const c = (meta.schema && meta.schema.labels) || meta.classes;
    if (Array.isArray(c)) return c.map(String);
    if (typeof c === 'number') return Array.from({ length: c }, (_, i) => String(i));
    return null;
  }

  async function init() {
    const form = $('predict-form');
    form.addEventListener('submit', (e) => { e.preventDefault(); onPredict(); });
    form.addEventListener('reset', () => setTimeout(() => { clearFieldErrors(); hideServerError(); }, 0));
    form.addEventListener('input', (e) => { if (e.target.matches('input, select')) checkField(e.target); });
    form.addEventListener('change', (e) => { if (e.target.matches('input, select')) checkField(e.target); });
    $('copy-curl').addEventListener('click', copyCurl);
    $('model-picker').addEventListener('change', (e) => selectModel(e.target.value, true));
    $('csv-file').addEventListener('change', (e) => { const f = e.target.files && e.target.files[0]; if (f) scoreCsv(f); });
    // Ticking "add contribution columns" after a file was scored scores it again.
    $('csv-contrib').addEventListener('change', () => { if (state.batchFile) scoreCsv(state.batchFile); });
    $('chunk-size-text').textContent = String(CHUNK_ROWS);

    let list;
    try {
      list = await getJSON('/v1/models');
    } catch (err) {
      $('model-desc').textContent = `Cannot list the models: ${err.message}`;
      $('conn-status').textContent = 'server unreachable';
      return;
    }
    state.models = list.models || [];
    $('conn-status').textContent = `${state.models.length} model${state.models.length === 1 ? '' : 's'} loaded`;
    if (state.models.length === 0) {
      $('model-desc').textContent = 'No model is loaded.';
      return;
    }
    const picker = $('model-picker');
    for (const m of state.models) picker.append(el('option', { value: m.name, text: `${m.name} (${m.objective})` }));
    $('picker-wrap').hidden = state.models.length < 2;
    const wanted = new URLSearchParams(location.search).get('model');
    const first = state.models.find((m) => m.name === wanted) || state.models.find((m) => m.name === 'income') || state.models[0];
    await selectModel(first.name, false);
  }

  async function selectModel(name, updateUrl) {
    $('model-picker').value = name;
    if (updateUrl) {
      const u = new URL(location.href);
      u.searchParams.set('model', name);
      history.replaceState(null, '', u);
    }
    let meta;
    try {
      meta = await getJSON(`/v1/models/${encodeURIComponent(name)}`);
    } catch (err) {
      $('model-desc').textContent = `Cannot read model ${name}: ${err.message}`;
      return;
    }
    state.meta = meta;
    state.features = featuresOf(meta);
    document.title = `grove · predict · ${meta.name}`;
    $('model-title').textContent = ` · ${meta.name}`;
    const desc = meta.schema && meta.schema.description;
    $('model-desc').textContent = desc || `Model ${meta.name} has no schema.json: its features are numbered inputs.`;
    const classes = classNames(meta);
    $('model-meta').textContent = [
      meta.source_model ? `${meta.format} (${meta.source_model})` : meta.format, meta.objective, `${meta.trees} trees`, `depth ${meta.max_depth}`,
      `${meta.num_features} features`, classes ? `classes: ${classes.join(', ')}` : null,
    ].filter(Boolean).join(' · ');
    renderFields(state.features);
    setContribChoice(meta);
    resetResult();
    resetBatch();
    state.batchFile = null;
    $('predict-btn').disabled = false;
  }

  /* ---------------------------------------------------------------- the form */

  function renderFields(features) {
    const box = $('fields');
    box.textContent = '';
    features.forEach((f, i) => {
      const id = `f-${i}`;
      const categorical = f.type === 'categorical' && Array.isArray(f.categories);
      const codeOnly = f.type === 'categorical' && !categorical; // no schema.json: category codes
      let control;
      let kind;
      let range = '';
      if (categorical) {
        control = el('select', { id, name: f.name, 'aria-describedby': `h-${i} e-${i}` },
          el('option', { value: '', text: '— missing —' }));
        for (const c of f.categories || []) control.append(el('option', { value: c, text: c }));
        kind = `category (${(f.categories || []).length})`;
      } else if (codeOnly) {
        control = el('input', { id, name: f.name, type: 'number', min: 0, step: 1, inputmode: 'numeric', 'aria-describedby': `h-${i} e-${i}` });
        kind = 'category code';
        range = 'Category code (the model has no schema.json with category names); empty = missing.';
      } else {
        const step = typeof f.step === 'number' ? f.step : f.type === 'integer' ? 1 : 'any';
        control = el('input', {
          id, name: f.name, type: 'number', required: true, step,
          min: typeof f.min === 'number' ? f.min : null,
          max: typeof f.max === 'number' ? f.max : null,
          inputmode: step === 1 ? 'numeric' : 'decimal',
          'aria-describedby': `h-${i} e-${i}`,
        });
        kind = 'number';
        if (typeof f.min === 'number' && typeof f.max === 'number') range = `Range ${fmtNum(f.min)} – ${fmtNum(f.max)}.`;
        else if (typeof f.min === 'number') range = `At least ${fmtNum(f.min)}.`;
        else if (typeof f.max === 'number') range = `At most ${fmtNum(f.max)}.`;
      }
      const help = [f.description, range].filter(Boolean).join(' ');
      box.append(el('div', { class: 'field' },
        el('label', { for: id }, f.name, el('span', { class: 'kind', text: kind })),
        control,
        el('p', { class: 'help', id: `h-${i}`, text: help || (categorical ? 'Category.' : 'Number.') }),
        el('p', { class: 'field-error', id: `e-${i}` })));
    });
  }

  const controls = () => state.features.map((_, i) => $(`f-${i}`));

  function checkField(c) {
    const i = c.id.slice(2);
    const ok = c.checkValidity();
    if (ok) {
      c.removeAttribute('aria-invalid');
      $(`e-${i}`).textContent = '';
    } else if (c.getAttribute('aria-invalid') === 'true') {
      $(`e-${i}`).textContent = c.validationMessage; // keep the message current once shown
    }
    return ok;
  }

  function clearFieldErrors() {
    for (const c of controls()) { c.removeAttribute('aria-invalid'); $(`e-${c.id.slice(2)}`).textContent = ''; }
    $('form-note').textContent = '';
  }

  /* The constraint validation API decides (required, min, max, step); nothing is sent when it refuses. */
  function validateForm() {
    let first = null;
    let bad = 0;
    for (const c of controls()) {
      const ok = c.checkValidity();
      const i = c.id.slice(2);
      if (ok) {
        c.removeAttribute('aria-invalid');
        $(`e-${i}`).textContent = '';
      } else {
        bad++;
        c.setAttribute('aria-invalid', 'true');
        $(`e-${i}`).textContent = c.validationMessage;
        if (!first) first = c;
      }
    }
    $('form-note').textContent = bad ? `${bad} field${bad === 1 ? '' : 's'} to fix before predicting.` : '';
    if (first) first.focus();
    return bad === 0;
  }

  function recordFromForm() {
    const rec = {};
    state.features.forEach((f, i) => {
      const c = $(`f-${i}`);
      if (c.value === '') return; // absent = missing
      rec[f.name] = c.tagName === 'SELECT' ? c.value : Number(c.value);
    });
    return rec;
  }

  function fillForm(record) {
    state.features.forEach((f, i) => {
      const c = $(`f-${i}`);
      const v = record[f.name];
      c.value = v === undefined || v === null ? '' : String(v);
      if (c.tagName === 'SELECT' && c.value !== String(v ?? '')) c.value = '';
    });
    clearFieldErrors();
  }

  function showServerError(status, message) {
    const box = $('server-error');
    box.textContent = '';
    box.append(el('strong', { text: status ? `The server refused the request (HTTP ${status})` : 'The request failed' }),
      el('span', { id: 'server-error-text', text: message }));
    box.hidden = false;
  }
  function hideServerError() { $('server-error').hidden = true; }

  async function onPredict() {
    if (!state.meta) return;
    hideServerError();
    if (!validateForm()) return;
    const meta = state.meta;
    const name = meta.name;
    const record = recordFromForm();
    // The prediction comes with its explanation (per-feature contributions) when the model can
    // be explained; otherwise the note gives the metadata's reason. One request either way: a
    // 4xx is then about the record, and is shown as such.
    const explain = canExplain(meta);
    const body = explain ? { records: [record], explain: true } : { records: [record] };
    const bodyText = JSON.stringify(body);
    const btn = $('predict-btn');
    btn.disabled = true;
    btn.textContent = 'Predicting…';
    let r;
    try {
      r = await postPredict(name, bodyText);
    } catch (err) {
      showServerError(0, `Network error: ${err.message}`);
      return;
    } finally {
      btn.disabled = false;
      btn.textContent = 'Predict';
    }
    state.lastCurl = `curl -s ${shellQuote(location.origin + predictPath(name))} -H 'Content-Type: application/json' -d ${shellQuote(bodyText)}`;
    $('raw').hidden = false;
    $('raw-request').textContent = `POST ${predictPath(name)}\nContent-Type: application/json\n\n${JSON.stringify(body, null, 2)}`;
    $('raw-response').textContent = `HTTP ${r.res.status}\n\n${r.data ? JSON.stringify(r.data, null, 2) : r.text}`;
    $('raw-curl').textContent = state.lastCurl;
    $('copy-status').textContent = '';
    showLatency(r);
    if (!r.res.ok || !r.data) {
      showServerError(r.res.status, errorText(r));
      resetResult('No prediction: the server refused the request (see the message next to the form).');
      return;
    }
    renderResult(r.data);
    try {
      renderExplanation(r.data, record, explain ? null : explainReason(meta));
    } catch (err) { // the explanation is extra: whatever goes wrong there, the prediction stays
      showExplainNote(`The explanation cannot be drawn: ${err.message}`);
    }
  }

  function showLatency(r) {
    const p = $('latency');
    p.textContent = '';
    p.append('Round trip ', el('b', { id: 'latency-ms', text: fmtMs(r.ms) }), ' measured in this page (fetch to last byte)');
    // Time to first byte from the Resource Timing entry of this request, when the browser exposes it.
    const entries = performance.getEntriesByName(new URL(r.res.url, location.href).href);
    const e = entries[entries.length - 1];
    if (e && e.responseStart > 0 && e.requestStart > 0) p.append(`; time to first byte ${fmtMs(e.responseStart - e.requestStart)}`);
    performance.clearResourceTimings();
    // grove sends its own time for the request (decode, queue, engine, encode) as Server-Timing.
    const st = r.res.headers.get('server-timing');
    const dur = st && /dur=([0-9.]+)/.exec(st);
    if (dur) {
      p.append('. Server time ', el('b', { id: 'server-ms', text: fmtMs(Number(dur[1])) }),
        ' (decode, queue, engine, encode).');
    } else {
      p.append('. The server\'s own time is not in the response; ', el('a', { href: 'admin.html', text: 'the dashboard' }), ' shows its p50/p99.');
    }
    p.hidden = false;
  }

  function resetResult(message) {
    hideExplanation();
    const box = $('result');
    box.textContent = '';
    box.append(el('p', { class: 'result-empty', id: 'result-empty', text: message || 'Fill in the features and press Predict.' }));
    if (!message) { $('latency').hidden = true; $('raw').hidden = true; }
  }

  function probRow(name, value, id) {
    const v = typeof value === 'number' ? value : NaN;
    const pct = Number.isFinite(v) ? Math.max(0, Math.min(1, v)) * 100 : 0;
    return el('div', { class: 'prob-row' },
      el('div', { class: 'prob-head' },
        el('span', { text: name }),
        el('span', { class: 'mono' }, el('span', { id, text: Number.isFinite(v) ? String(v) : 'n/a' }),
          Number.isFinite(v) ? ` (${pct.toFixed(1)}%)` : '')),
      el('div', { class: 'bar', role: 'img', 'aria-label': `${name}: ${pct.toFixed(1)} percent` }, el('div', { style: `width:${pct}%` })));
  }

  function renderResult(data) {
    const box = $('result');
    box.textContent = '';
    const meta = state.meta;
    const pred = data.predictions ? data.predictions[0] : undefined;
    const label = data.labels ? data.labels[0] : undefined;
    const classes = classNames(meta);
    const probabilistic = meta.task === 'binary' || meta.task === 'multiclass';
    if (label !== undefined && label !== null) {
      box.append(el('p', { class: 'muted small', text: 'Label' }), el('p', { class: 'result-label', id: 'result-label', text: Array.isArray(label) ? label.join(', ') : String(label) }));
    }
    if (typeof pred === 'number' && meta.task === 'binary' && !/hinge|logitraw/.test(meta.objective)) {
      const pos = classes && classes.length === 2 ? classes[1] : '1';
      box.append(probRow(`P(${pos})`, pred, 'result-prob'));
    } else if (Array.isArray(pred) && probabilistic && !/logitraw/.test(meta.objective)) {
      pred.forEach((v, k) => box.append(probRow(`P(${classes && classes[k] !== undefined ? classes[k] : k})`, v, k === 0 ? 'result-prob' : `result-prob-${k}`)));
    } else {
      const text = Array.isArray(pred) ? pred.map(String).join(', ') : String(pred);
      box.append(el('p', { class: 'muted small', text: 'Value' }), el('p', { class: 'result-label mono', id: 'result-value', text }));
    }
  }

  /* ---------------------------------------------------------------- explanation */

  const sigmoid = (x, scale) => 1 / (1 + Math.exp(-scale * x));
  function softmax(v) {
    const top = Math.max(...v);
    const e = v.map((x) => Math.exp(x - top));
    const t = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / t);
  }
  const argmax = (v) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
  const near = (a, b) => Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
  /* A margin as text: 6 decimals at most, no digit grouping (the page's tests read it back). */
  const fmtMargin = (x) => String(Number(x.toFixed(6)));
  const fmtContrib = (x) => {
    const a = Math.abs(x);
    const t = a === 0 ? '0' : a >= 0.001 ? a.toLocaleString('en-US', { maximumFractionDigits: 4 }) : a.toExponential(2);
    return (x > 0 ? '+' : x < 0 ? '\u2212' : '\u00b1') + t;
  };

  /*
   * How the model turns margins (one per class) into its prediction. The task and objective
   * (GET /v1/models/{name}) give the candidates; the first whose output matches the
   * prediction is the one: a sigmoid for binary classifiers (LightGBM's "sigmoid:<s>" scale
   * included), a softmax or one-vs-all sigmoids for multi-class ones, the identity or exp
   * (log link) for regression. None matching (hinge, ...): the chart stays in margin space.
   */
  function linkFor(meta, margins, preds) {
    const scale = Number((/sigmoid:([0-9.eE+-]+)/.exec(String(meta.objective || '')) || [])[1]) || 1;
    const logistic = (m) => m.map((x) => sigmoid(x, scale));
    const same = (m) => m;
    const cands = meta.task === 'binary'
      ? [{ space: 'log-odds', prob: true, apply: logistic }, { space: 'raw score', apply: same }]
      : meta.task === 'multiclass'
        ? [{ space: 'log-odds (softmax)', prob: true, apply: softmax }, { space: 'log-odds (one-vs-all)', prob: true, apply: logistic }, { space: 'raw score', apply: same }]
        : [{ space: 'value', apply: same }, { space: 'log of the value', exp: true, apply: (m) => m.map(Math.exp) }];
    if (!(preds.length === margins.length && preds.every((p) => typeof p === 'number'))) return cands[0]; // multi:softmax answers a class
    return cands.find((c) => c.apply(margins).every((v, i) => near(v, preds[i]))) || { space: 'margin', unknown: true, apply: same };
  }

  function hideExplanation() {
    const s = $('explain');
    s.hidden = true;
    s.textContent = '';
  }

  function showExplainNote(text) {
    const s = $('explain');
    s.textContent = '';
    s.append(el('p', { class: 'explain-note muted small', id: 'explain-note', text }));
    s.hidden = false;
  }

  /* Under the prediction: the contributions of its features, a waterfall from the base value to the row's margin. */
  function renderExplanation(data, record, explainError) {
    hideExplanation();
    if (explainError !== null) return showExplainNote(`No explanation for this model: ${explainError}`);
    const rows = data.contributions;
    if (!Array.isArray(rows) || rows.length === 0) return showExplainNote('The server sent no contributions for this prediction.');
    const meta = state.meta;
    const names = Array.isArray(data.feature_names) ? data.feature_names.map(String) : state.features.map((f) => f.name);
    const groups = Array.isArray(rows[0][0]) ? rows[0] : [rows[0]]; // multi-class: one array per class
    if (!groups.every((g) => Array.isArray(g) && g.length === names.length + 1 && g.every((v) => typeof v === 'number'))) {
      throw new Error(`each class's contributions should be ${names.length + 1} numbers (${names.length} features and the bias)`);
    }
    const margins = groups.map((g) => g.reduce((a, b) => a + b, 0));
    const pred = data.predictions[0];
    const preds = Array.isArray(pred) ? pred : [pred];
    const ctx = { names, record, groups, margins, preds, link: linkFor(meta, margins, preds), classes: classNames(meta) };
    let k = 0;
    if (groups.length > 1) k = Array.isArray(pred) ? argmax(pred) : Number.isInteger(pred) && pred >= 0 && pred < groups.length ? pred : argmax(margins);
    ctx.predicted = k;

    const s = $('explain');
    s.textContent = '';
    s.append(el('h3', { id: 'explain-title', text: 'Why: feature contributions' }));
    const box = el('div', { id: 'explain-chart-box' });
    if (groups.length > 1) {
      const sel = el('select', { id: 'explain-class' });
      groups.forEach((_, c) => sel.append(el('option', { value: c, text: className(ctx, c) + (c === k ? ' (predicted)' : '') })));
      sel.value = String(k);
      sel.addEventListener('change', () => drawExplanation(box, ctx, Number(sel.value)));
      s.append(el('div', { class: 'picker explain-picker' }, el('label', { for: 'explain-class', text: 'Class' }), sel));
    }
    s.append(box);
    drawExplanation(box, ctx, k);
    s.hidden = false;
  }

  function className(ctx, k) {
    const { classes } = ctx;
    if (ctx.groups.length === 1) return classes && classes.length === 2 ? classes[1] : '1';
    return classes && classes[k] !== undefined ? classes[k] : String(k);
  }

  /* The row's value of a feature as the form sent it: the category string, the number, or "missing". */
  function rowValue(record, name) {
    const v = record[name];
    return v === undefined || v === null || v === '' ? null : String(v);
  }

  function drawExplanation(box, ctx, k) {
    box.textContent = '';
    const { names, record, link } = ctx;
    const g = ctx.groups[k];
    const nf = names.length;
    const bias = g[nf];
    const margin = ctx.margins[k];
    const multi = ctx.groups.length > 1;
    const classification = state.meta.task === 'binary' || state.meta.task === 'multiclass';
    const cls = classification ? className(ctx, k) : null;
    const target = cls !== null && /^\d+$/.test(cls) ? `class ${cls}` : cls; // "class 2", not "2", when classes are numbers

    // The largest |contribution| first; past EXPLAIN_TOP the rest is one "other features" bar.
    const order = names.map((_, j) => j).filter((j) => g[j] !== 0).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]) || a - b);
    const shown = order.length <= EXPLAIN_TOP + 1 ? order : order.slice(0, EXPLAIN_TOP);
    const shownSet = new Set(shown);
    const rest = names.map((_, j) => j).filter((j) => !shownSet.has(j));
    const steps = shown.map((j) => ({ j, c: g[j] }));
    if (rest.length) steps.push({ j: -1, c: rest.reduce((a, j) => a + g[j], 0) });

    // Horizontal scale: every running total from the base to the margin.
    let run = bias;
    const points = [bias];
    for (const st of steps) { st.from = run; run += st.c; st.to = run; points.push(run); }
    points.push(margin);
    let lo = Math.min(...points);
    let hi = Math.max(...points);
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.04;
    lo -= pad; hi += pad;
    const pos = (x) => ((x - lo) / (hi - lo)) * 100;
    const guide = () => el('span', { class: 'wf-guide', style: `left:${pos(bias).toFixed(3)}%` });
    const track = (from, to) => {
      let left = pos(Math.min(from, to));
      const width = Math.max(pos(Math.max(from, to)) - left, 0.8); // a tiny contribution stays visible
      left = Math.min(left, 100 - width);
      return el('div', { class: 'wf-track', 'aria-hidden': 'true' }, guide(),
        el('span', { class: 'wf-bar', style: `left:${left.toFixed(3)}%;width:${width.toFixed(3)}%` }));
    };
    const tickTrack = (x) => el('div', { class: 'wf-track', 'aria-hidden': 'true' }, guide(),
      el('span', { class: 'wf-tick', style: `left:${pos(x).toFixed(3)}%` }));

    const space = link.space;
    const what = classification ? `${space} of ${target}` : link.exp ? 'log of the predicted value' : space === 'value' ? 'predicted value' : space;
    box.append(el('p', { class: 'muted small explain-caption', id: 'explain-caption' },
      `How each feature moves the ${what}${multi ? (k === ctx.predicted ? ', the predicted class,' : '') : ''} from the model's base value to this row's: `,
      'the contributions add up. ', el('span', { class: 'wf-key up', text: '+ pushes up' }), ', ', el('span', { class: 'wf-key down', text: '\u2212 pushes down' }),
      rest.length ? `; the ${rest.length} smallest are summed into "other features".` : '.'));

    const ol = el('ol', {
      class: 'waterfall', id: 'contrib-chart', 'data-base': String(bias), 'data-margin': String(margin), 'data-class': String(k),
      'aria-label': `Contributions to the ${what}, from the base value to this row's`,
    });
    ol.append(el('li', { class: 'wf-row wf-base' },
      el('div', { class: 'wf-head' }, el('span', { class: 'wf-name', text: 'Base value' }),
        el('span', { class: 'wf-num mono', id: 'explain-base', text: fmtMargin(bias) })),
      tickTrack(bias)));
    for (const st of steps) {
      const dir = st.c > 0 ? 'up' : st.c < 0 ? 'down' : 'zero';
      const label = [];
      if (st.j >= 0) {
        const v = rowValue(record, names[st.j]);
        label.push(el('span', { class: 'wf-fname', text: names[st.j] }), ' = ',
          v === null ? el('span', { class: 'wf-fval missing', text: 'missing' }) : el('span', { class: 'wf-fval', text: v }));
      } else {
        label.push(el('span', { class: 'wf-fname', text: `${rest.length} other feature${rest.length === 1 ? '' : 's'}` }),
          rest.every((j) => g[j] === 0) ? el('span', { class: 'wf-fval', text: ' (no effect)' }) : '');
      }
      ol.append(el('li', {
        class: `wf-row wf-${dir}${st.j < 0 ? ' wf-other' : ''}`, 'data-contribution': String(st.c),
        'data-feature': st.j >= 0 ? names[st.j] : null, 'data-value': st.j >= 0 ? rowValue(record, names[st.j]) ?? '' : null,
      },
      el('div', { class: 'wf-head' }, el('span', { class: 'wf-name' }, ...label),
        el('span', { class: 'wf-num mono' }, fmtContrib(st.c), el('span', { class: 'sr-only', text: dir === 'up' ? ' (up)' : dir === 'down' ? ' (down)' : '' }))),
      track(st.from, st.to)));
    }
    ol.append(el('li', { class: 'wf-row wf-final' },
      el('div', { class: 'wf-head' }, el('span', { class: 'wf-name', text: classification || space !== 'value' ? `This row's ${space === 'value' ? 'value' : 'margin'}` : 'Prediction' }),
        el('span', { class: 'wf-num mono', id: 'explain-margin', text: fmtMargin(margin) })),
      tickTrack(margin)));
    box.append(ol);

    // Back from margin space: the base and the final probability (or value, for a log link).
    const out = [];
    if (link.prob || link.exp) {
      const base = link.apply(ctx.groups.map((gr) => gr[nf]))[k];
      const fromPred = ctx.preds.length === ctx.groups.length && typeof ctx.preds[k] === 'number';
      const final = fromPred ? String(ctx.preds[k]) : String(link.apply(ctx.margins)[k]);
      const name = link.prob ? `P(${cls})` : 'value';
      out.push(el('p', { class: 'explain-probs small' },
        `Base ${name} `, el('b', { class: 'mono', id: 'explain-base-prob', text: String(Number(base.toPrecision(6))) }),
        ` \u2192 this row's ${name} `, el('b', { class: 'mono', id: 'explain-final-prob', text: final }),
        fromPred ? ' (the prediction above).' : '.'));
    } else if (link.unknown) {
      out.push(el('p', { class: 'muted small', text: `The prediction is not a transform of the margin this page knows (objective ${state.meta.objective}): the chart stays in margin space.` }));
    }
    box.append(...out);
  }


  async function copyCurl() {
    const text = state.lastCurl;
    const status = $('copy-status');
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
      } else {
        const ta = el('textarea', { style: 'position:fixed;left:-9999px', readonly: true });
        ta.value = text;
        document.body.append(ta);
        ta.select();
        const ok = document.execCommand('copy');
        ta.remove();
        if (!ok) throw new Error('copy refused');
      }
      status.style.color = '';
      status.textContent = 'Copied.';
    } catch (_) {
      status.style.color = 'var(--err)';
      status.textContent = 'Cannot copy here: select the command under "curl".';
      $('raw-curl').closest('details').open = true;
    }
  }

  /* ---------------------------------------------------------------- CSV */

  /* RFC 4180 CSV: quoted fields with "" escapes and embedded newlines, CRLF or LF, BOM skipped. */
  function parseCsv(text) {
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const rows = [];
    let row = [];
    let i = 0;
    const n = text.length;
    while (i < n) {
      let field;
      if (text[i] === '"') {
        let j = i + 1;
        let parts = '';
        for (;;) {
          const q = text.indexOf('"', j);
          if (q < 0) throw new Error(`unterminated quoted field in data row ${rows.length}`);
          parts += text.slice(j, q);
          if (text[q + 1] === '"') { parts += '"'; j = q + 2; continue; }
          i = q + 1;
          break;
        }
        // Tolerate stray characters between the closing quote and the separator.
        let k = i;
        while (k < n && text[k] !== ',' && text[k] !== '\n' && text[k] !== '\r') k++;
        field = parts + text.slice(i, k);
        i = k;
      } else {
        let k = i;
        while (k < n && text[k] !== ',' && text[k] !== '\n' && text[k] !== '\r') k++;
        field = text.slice(i, k);
        i = k;
      }
      row.push(field);
      if (i >= n) { rows.push(row); break; }
      if (text[i] === ',') { i++; if (i === n) { row.push(''); rows.push(row); break; } continue; }
      // end of line
      if (text[i] === '\r' && text[i + 1] === '\n') i++;
      i++;
      rows.push(row);
      row = [];
    }
    return rows.filter((r) => !(r.length === 1 && r[0].trim() === ''));
  }

  function csvField(v) {
    const s = v === undefined || v === null ? '' : String(v);
    return /[",\r\n]|^\s|\s$/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  /* Also abandons a scoring under way (a new file, the checkbox, another model): it stops at its next await. */
  function resetBatch() {
    state.batchGen++;
    if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
    state.downloadUrl = null;
    state.batch = null;
    $('csv-download').hidden = true;
    $('batch-progress').hidden = true;
    $('batch-error').hidden = true;
    $('batch-summary').textContent = '';
    $('batch-table-wrap').hidden = true;
    $('batch-table').textContent = '';
    $('batch-failures').hidden = true;
  }

  /* "add contribution columns" is offered only for a model that can be explained; for the
   * others it is off and greyed, with the metadata's reason next to it. */
  function setContribChoice(meta) {
    const box = $('csv-contrib');
    const can = canExplain(meta);
    box.disabled = !can;
    if (!can) box.checked = false;
    const note = $('csv-contrib-note');
    note.textContent = can ? '' : `No contribution columns for this model: ${explainReason(meta)}`;
    note.hidden = can;
  }

  function batchError(message) {
    const box = $('batch-error');
    box.textContent = message;
    box.hidden = false;
    $('batch-progress').hidden = true;
  }

  async function scoreCsv(file) {
    resetBatch();
    if (!state.meta) return;
    state.batchFile = file;
    const gen = state.batchGen;
    const meta = state.meta;
    let rows;
    try {
      rows = parseCsv(await file.text());
    } catch (err) {
      return gen === state.batchGen ? batchError(`${file.name}: ${err.message}`) : undefined;
    }
    if (gen !== state.batchGen) return;
    if (rows.length < 1) return batchError(`${file.name}: the file is empty.`);
    const header = rows.shift().map((h) => h.trim());
    const bad = rows.findIndex((r) => r.length !== header.length);
    if (bad >= 0) return batchError(`${file.name}: data row ${bad + 1} has ${rows[bad].length} fields, the header has ${header.length}.`);
    if (rows.length === 0) return batchError(`${file.name}: no data rows after the header.`);

    const cols = state.features.map((f) => header.indexOf(f.name));
    const absent = state.features.filter((_, k) => cols[k] < 0).map((f) => f.name);
    if (absent.length === state.features.length) {
      return batchError(`${file.name}: no column is named after a feature of ${meta.name} (expected: ${state.features.map((f) => f.name).join(', ')}).`);
    }
    const featureNames = new Set(state.features.map((f) => f.name));
    const extra = header.filter((h) => !featureNames.has(h));

    const records = rows.map((r) => {
      const rec = {};
      state.features.forEach((f, k) => {
        if (cols[k] < 0) return;
        const v = r[cols[k]].trim();
        if (MISSING.has(v)) return;
        if (f.type === 'categorical' && (Array.isArray(f.categories) || !Number.isFinite(Number(v)))) rec[f.name] = v;
        else rec[f.name] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v; // a non-number goes as is: the server names it
      });
      return rec;
    });

    const progress = $('batch-progress');
    progress.hidden = false;
    progress.max = records.length;
    progress.value = 0;
    const predictions = [];
    const labels = [];
    const errors = [];   // per row: '' or what is wrong with it (the server's words)
    const contributions = []; // per row, with "add contribution columns": the API's contributions (null: none)
    let explain = $('csv-contrib').checked && canExplain(meta); // the box is off for the others
    let contribNote = '';  // why the download has no contribution columns after all
    let contribNames = null;
    const t0 = performance.now();
    let requests = 0;
    // Each chunk asks for per-row errors: the good rows are scored, a bad one gets null and
    // its reason, so one bad row no longer sinks its 1000 neighbours.
    for (let start = 0; start < records.length; start += CHUNK_ROWS) {
      const chunk = records.slice(start, start + CHUNK_ROWS);
      let r;
      try {
        r = await postPredict(meta.name, JSON.stringify({ records: chunk, errors: 'per_row', ...(explain ? { explain: true } : {}) }));
      } catch (err) {
        return gen === state.batchGen ? batchError(`Rows ${start + 1}–${start + chunk.length}: network error: ${err.message}`) : undefined;
      }
      if (gen !== state.batchGen) return; // a newer scoring took over
      requests++;
      if (!r.res.ok || !r.data || !Array.isArray(r.data.predictions)) {
        return batchError(`Rows ${start + 1}–${start + chunk.length} refused (HTTP ${r.res.status}): ${errorText(r)}`);
      }
      if (explain) {
        if (Array.isArray(r.data.contributions) && Array.isArray(r.data.feature_names)) {
          contribNames = contribNames || r.data.feature_names.map(String);
          chunk.forEach((_, k) => contributions.push(r.data.contributions[k] ?? null));
        } else {
          explain = false;
          contribNote = 'the server sent no contributions';
        }
      }
      predictions.push(...r.data.predictions);
      if (Array.isArray(r.data.labels)) labels.push(...r.data.labels);
      const errs = Array.isArray(r.data.errors) ? r.data.errors : [];
      chunk.forEach((_, k) => errors.push(errs[k] ? String(errs[k]).replace(/^record \d+(, |: )/, '') : ''));
      progress.value = predictions.length;
    }
    const ms = performance.now() - t0;
    progress.hidden = true;
    const failed = errors.filter((e) => e !== '').length;

    // Output: the original columns, then the prediction(s), the label and the error.
    const classes = classNames(meta);
    const width = Array.isArray(predictions.find((p) => p !== null)) ? predictions.find((p) => p !== null).length : 1;
    const predCols = width === 1 ? ['prediction']
      : Array.from({ length: width }, (_, k) => `prediction_${classes && classes[k] !== undefined ? classes[k] : k}`);
    const hasLabels = labels.length === predictions.length;
    // Contribution columns: contrib_<feature> and contrib_bias (per class for multi-class models:
    // contrib_<class>_<feature>); in margin space, they add up to the row's margin.
    const withContribs = explain && contribNames !== null && contributions.length === predictions.length;
    const firstContrib = withContribs ? contributions.find((c) => Array.isArray(c)) : undefined;
    const contribGroups = Array.isArray(firstContrib) && Array.isArray(firstContrib[0]) ? firstContrib.length : 1;
    const contribCols = [];
    if (withContribs) {
      for (let g = 0; g < contribGroups; g++) {
        const prefix = contribGroups === 1 ? 'contrib_' : `contrib_${classes && classes[g] !== undefined ? classes[g] : g}_`;
        for (const f of contribNames.concat(['bias'])) contribCols.push(prefix + f);
      }
    }
    const contribCells = (k) => {
      const c = contributions[k];
      const flat = Array.isArray(c) ? (contribGroups === 1 ? c : c.flat()) : [];
      return flat.length === contribCols.length ? flat.map(String) : Array(contribCols.length).fill('');
    };
    const outHeader = header.concat(predCols, hasLabels ? ['label'] : [], ['error'], contribCols);
    const predCells = (k) => (predictions[k] === null ? Array(width).fill('')
      : (width === 1 ? [predictions[k]] : predictions[k]).map((v) => (v === null ? '' : String(v))));
    const labelCell = (k) => (Array.isArray(labels[k]) ? labels[k].join(';') : labels[k] ?? '');
    const lines = [outHeader.map(csvField).join(',')];
    rows.forEach((r, k) => lines.push(r.concat(predCells(k), hasLabels ? [labelCell(k)] : [], [errors[k]], withContribs ? contribCells(k) : []).map(csvField).join(',')));
    const blob = new Blob([lines.join('\n') + '\n'], { type: 'text/csv' });
    state.downloadUrl = URL.createObjectURL(blob);
    const link = $('csv-download');
    link.href = state.downloadUrl;
    link.download = file.name.replace(/\.csv$/i, '') + '-predictions.csv';
    link.hidden = false;
    state.batch = { header, rows };

    const notes = [];
    if (extra.length) notes.push(`not sent: ${extra.join(', ')}`);
    if (absent.length) notes.push(`no column (sent as missing): ${absent.join(', ')}`);
    const contribText = withContribs ? ` The download has ${contribCols.length} contribution columns (${contribGroups === 1 ? 'contrib_<feature>, contrib_bias' : 'contrib_<class>_<feature>, contrib_<class>_bias'}).`
      : contribNote ? ` No contribution columns: ${contribNote.replace(/\.$/, '')}.` : '';
    $('batch-summary').textContent = `${rows.length - failed} of ${rows.length} row${rows.length === 1 ? '' : 's'} scored`
      + (failed ? `, ${failed} failed (their reason is in the download's error column)` : '')
      + ` in ${requests} request${requests === 1 ? '' : 's'}, `
      + `${fmtMs(ms)} (${Math.round(rows.length / (ms / 1000)).toLocaleString('en-US')} rows/s).`
      + (notes.length ? ` Columns ${notes.join('; ')}.` : '')
      + contribText
      + (rows.length > PREVIEW_ROWS ? ` First ${PREVIEW_ROWS} rows:` : '');
    const list = $('batch-failures');
    list.textContent = '';
    errors.map((e, k) => [k, e]).filter(([, e]) => e).slice(0, FAILURES_SHOWN).forEach(([k, e]) => {
      list.append(el('li', { text: `CSV data row ${k + 1}: ${e}` }));
    });
    if (failed > FAILURES_SHOWN) list.append(el('li', { class: 'muted', text: `… and ${failed - FAILURES_SHOWN} more` }));
    list.hidden = failed === 0;

    // Preview table.
    const table = $('batch-table');
    const thead = el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, el('span', { class: 'sr-only', text: 'Row' })),
      ...predCols.map((h) => el('th', { scope: 'col', class: 'num', text: h })),
      ...(hasLabels ? [el('th', { scope: 'col', text: 'label' })] : []),
      el('th', { scope: 'col', text: 'error' }),
      ...header.map((h) => el('th', { scope: 'col', text: h }))));
    const tbody = el('tbody');
    rows.slice(0, PREVIEW_ROWS).forEach((r, k) => {
      const load = el('button', { type: 'button', class: 'small-btn', 'data-row': k, 'aria-label': `Load row ${k + 1} into the form`, text: 'Load' });
      load.addEventListener('click', () => {
        fillForm(records[k]);
        $('predict-form').scrollIntoView({ behavior: 'smooth', block: 'start' });
        $('f-0').focus({ preventScroll: true });
      });
      tbody.append(el('tr', {}, el('td', {}, load),
        ...predCells(k).map((v) => el('td', { class: 'num pred', text: v })),
        ...(hasLabels ? [el('td', { class: 'pred', text: String(labelCell(k)) })] : []),
        el('td', { class: errors[k] ? 'row-error' : '', text: errors[k] }),
        ...r.map((v) => (v.trim() === '' ? el('td', { class: 'missing', text: 'missing' }) : el('td', { text: v })))));
    });
    table.append(thead, tbody);
    $('batch-table-wrap').hidden = false;
  }

  // Exposed for the browser tests and the console.
  window.grove = { parseCsv, csvField };

  document.addEventListener('DOMContentLoaded', init);
})();
