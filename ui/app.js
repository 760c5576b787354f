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
  const state = { models: [], meta: null, features: [], lastCurl: '', downloadUrl: null, batch: null };

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
    resetResult();
    resetBatch();
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
    const name = state.meta.name;
    const body = { records: [recordFromForm()] };
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

  function resetBatch() {
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

  function batchError(message) {
    const box = $('batch-error');
    box.textContent = message;
    box.hidden = false;
    $('batch-progress').hidden = true;
  }

  async function scoreCsv(file) {
    resetBatch();
    if (!state.meta) return;
    const meta = state.meta;
    let rows;
    try {
      rows = parseCsv(await file.text());
    } catch (err) {
      return batchError(`${file.name}: ${err.message}`);
    }
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
    const t0 = performance.now();
    let requests = 0;
    // Each chunk asks for per-row errors: the good rows are scored, a bad one gets null and
    // its reason, so one bad row no longer sinks its 1000 neighbours.
    for (let start = 0; start < records.length; start += CHUNK_ROWS) {
      const chunk = records.slice(start, start + CHUNK_ROWS);
      let r;
      try {
        r = await postPredict(meta.name, JSON.stringify({ records: chunk, errors: 'per_row' }));
      } catch (err) {
        return batchError(`Rows ${start + 1}–${start + chunk.length}: network error: ${err.message}`);
      }
      requests++;
      if (!r.res.ok || !r.data || !Array.isArray(r.data.predictions)) {
        return batchError(`Rows ${start + 1}–${start + chunk.length} refused (HTTP ${r.res.status}): ${errorText(r)}`);
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
    const outHeader = header.concat(predCols, hasLabels ? ['label'] : [], ['error']);
    const predCells = (k) => (predictions[k] === null ? Array(width).fill('')
      : (width === 1 ? [predictions[k]] : predictions[k]).map((v) => (v === null ? '' : String(v))));
    const labelCell = (k) => (Array.isArray(labels[k]) ? labels[k].join(';') : labels[k] ?? '');
    const lines = [outHeader.map(csvField).join(',')];
    rows.forEach((r, k) => lines.push(r.concat(predCells(k), hasLabels ? [labelCell(k)] : [], [errors[k]]).map(csvField).join(',')));
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
    $('batch-summary').textContent = `${rows.length - failed} of ${rows.length} row${rows.length === 1 ? '' : 's'} scored`
      + (failed ? `, ${failed} failed (their reason is in the download's error column)` : '')
      + ` in ${requests} request${requests === 1 ? '' : 's'}, `
      + `${fmtMs(ms)} (${Math.round(rows.length / (ms / 1000)).toLocaleString('en-US')} rows/s).`
      + (notes.length ? ` Columns ${notes.join('; ')}.` : '')
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
