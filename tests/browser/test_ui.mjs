#!/usr/bin/env node
/*
 * Browser tests of grove's UI (ui/index.html, ui/admin.html) in headless Chromium, TAP output.
 *
 *   node tests/browser/test_ui.mjs --grove build/grove --source-root .
 *     [--chromium /usr/bin/chromium] [--artifacts tests/artifacts]
 *
 * Starts `grove serve` on a free loopback port (and a second one with --admin-token for the
 * token flow), drives Chromium through playwright-core (no downloaded browsers: Debian's
 * chromium), compares what the pages show with what the API answers, and writes screenshots
 * of both pages at 1280x800 and 390x844 to the artifacts directory.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

/* ------------------------------------------------------------------ arguments */

function argValue(name, fallback) {
  const k = process.argv.indexOf(name);
  return k >= 0 && k + 1 < process.argv.length ? process.argv[k + 1] : fallback;
}
const root = path.resolve(argValue('--source-root', path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..')));
const groveExe = path.resolve(argValue('--grove', path.join(root, 'build', 'grove')));
const chromiumPath = argValue('--chromium', process.env.CHROMIUM || '/usr/bin/chromium');
const artifacts = path.resolve(argValue('--artifacts', path.join(root, 'tests', 'artifacts')));

/* ------------------------------------------------------------------ TAP */

let count = 0;
let failures = 0;
function ok(cond, desc, diag) {
  count++;
  if (cond) {
    console.log(`ok ${count} - ${desc}`);
  } else {
    failures++;
    console.log(`not ok ${count} - ${desc}`);
    if (diag !== undefined) for (const line of String(typeof diag === 'string' ? diag : JSON.stringify(diag, null, 1)).split('\n')) console.log(`#   ${line}`);
  }
  return !!cond;
}
const note = (msg) => console.log(`# ${msg}`);

/* ------------------------------------------------------------------ helpers */

function parseCsv(text) { // small RFC 4180 reader for the fixtures and the downloaded file
  const rows = [];
  let row = [];
  let field = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') q = false; else field += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, timeoutMs = 5000, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v;
    try { v = await fn(); } catch (_) { v = undefined; }
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(stepMs);
  }
}

const daemons = [];
async function startGrove(extraArgs = []) {
  const port = await freePort();
  const args = ['serve', '--models', path.join(root, 'models'), '--ui', path.join(root, 'ui'),
    '--threads', '1', '--workers', '1', '--host', '127.0.0.1', '--port', String(port), ...extraArgs];
  const proc = spawn(groveExe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const d = { proc, port, base: `http://127.0.0.1:${port}`, log: () => log };
  daemons.push(d);
  const ready = await waitFor(async () => (await fetch(`${d.base}/v2/health/ready`)).ok, 15000);
  if (!ready) throw new Error(`grove did not become ready on port ${port}:\n${log}`);
  return d;
}

async function stopGrove(d) {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  const exited = new Promise((r) => d.proc.once('exit', r));
  d.proc.kill('SIGTERM');
  const t = setTimeout(() => d.proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

process.on('exit', () => { for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill('SIGKILL'); });

async function apiPredict(base, records, extra = {}, model = 'income') {
  const res = await fetch(`${base}/v1/models/${model}/predict`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ records, ...extra }),
  });
  return { status: res.status, body: await res.json() };
}

const sum = (a) => a.reduce((x, y) => x + y, 0);

/* The explanation under the form's result, as the page draws it: the base value and margin from
 * the chart's data attributes and text, one entry per bar (the row's value, contribution, label). */
async function readChart(page) {
  return page.evaluate(() => {
    const chart = document.getElementById('contrib-chart');
    if (!chart) return null;
    const text = (id) => { const e = document.getElementById(id); return e ? e.textContent.trim() : null; };
    return {
      base: Number(chart.dataset.base), margin: Number(chart.dataset.margin), cls: Number(chart.dataset.class),
      baseText: text('explain-base'), marginText: text('explain-margin'),
      baseProb: text('explain-base-prob'), finalProb: text('explain-final-prob'), caption: text('explain-caption'),
      bars: [...chart.querySelectorAll('li[data-contribution]')].map((li) => {
        const bar = li.querySelector('.wf-bar');
        const track = li.querySelector('.wf-track');
        return {
          c: Number(li.dataset.contribution), feature: li.dataset.feature ?? null, other: li.classList.contains('wf-other'),
          up: li.classList.contains('wf-up'), down: li.classList.contains('wf-down'),
          label: li.querySelector('.wf-name').textContent, num: li.querySelector('.wf-num').textContent,
          barW: bar.getBoundingClientRect().width, trackW: track.getBoundingClientRect().width,
        };
      }),
    };
  });
}

/* What a chart of the contributions G (nf features + bias) must hold for RECORD: checks in TAP. */
function checkChart(chart, g, names, record, margin, what) {
  const nf = names.length;
  const barSum = sum(chart.bars.map((b) => b.c));
  ok(Math.abs(chart.base + barSum - Number(chart.marginText)) < 1e-6 && Math.abs(chart.margin - Number(chart.marginText)) < 1e-6,
    `${what}: the bars' contributions and the base value add up to the margin shown (${chart.marginText}) within 1e-6`,
    { base: chart.base, barSum, shown: chart.marginText });
  ok(Math.abs(Number(chart.marginText) - margin) < 1e-5 && chart.base === g[nf] && Number(chart.baseText) === Number(g[nf].toFixed(6)),
    `${what}: the margin is the API's ("margin": true) and the base value is the API's bias`, { shown: chart.marginText, api: margin, base: chart.base, bias: g[nf] });
  const order = names.map((_, j) => j).filter((j) => g[j] !== 0).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
  const features = chart.bars.filter((b) => !b.other);
  const top = order.slice(0, features.length).map((j) => names[j]);
  ok(features.length >= 1 && features.length <= 9 && JSON.stringify(features.map((b) => b.feature)) === JSON.stringify(top)
    && features.every((b) => b.c === g[names.indexOf(b.feature)]),
  `${what}: the ${features.length} feature bars are the largest |contributions| of the API's, largest first, with its numbers`,
  { page: features.map((b) => [b.feature, b.c]), api: order.map((j) => [names[j], g[j]]) });
  const other = chart.bars.filter((b) => b.other);
  const restSum = sum(names.map((_, j) => j).filter((j) => !top.includes(names[j])).map((j) => g[j]));
  ok(other.length === (top.length < nf ? 1 : 0) && (other.length === 0 || (Math.abs(other[0].c - restSum) < 1e-9 && other[0].label.startsWith(`${nf - top.length} other feature`))),
    `${what}: the other ${nf - top.length} features are one bar holding their sum`, { other, restSum });
  const valueOf = (name) => (record[name] === undefined ? 'missing' : String(record[name]));
  ok(features.every((b) => b.label === `${b.feature} = ${valueOf(b.feature)}`),
    `${what}: each bar is labelled with the feature's name and the row's value (categories as entered, "missing")`,
    features.map((b) => [b.label, valueOf(b.feature)]));
  ok(chart.bars.every((b) => (b.c > 0 ? b.up && b.num.startsWith('+') : b.c < 0 ? b.down && b.num.startsWith('\u2212') : !b.up && !b.down)),
    `${what}: up and down are told by sign in the text, not only by colour`, chart.bars.map((b) => [b.c, b.num, b.up, b.down]));
  // Bar lengths are to scale: width / |contribution| is the same for every bar wide enough to measure.
  const scaled = chart.bars.filter((b) => b.barW / b.trackW > 0.03).map((b) => b.barW / Math.abs(b.c));
  ok(scaled.length >= 1 && scaled.every((r) => Math.abs(r / scaled[0] - 1) < 0.05),
    `${what}: the bars' lengths are proportional to the contributions`, chart.bars.map((b) => [b.c, b.barW]));
}

async function metricValue(base, name, labelText) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + (labelText ? `{${labelText}}` : ' ')));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/* ------------------------------------------------------------------ fixtures */

const schema = JSON.parse(fs.readFileSync(path.join(root, 'models', 'income', 'schema.json'), 'utf8'));
const sampleText = fs.readFileSync(path.join(root, 'models', 'income', 'sample.csv'), 'utf8');
const sampleRows = parseCsv(sampleText).filter((r) => r.length > 1);
const sampleHeader = sampleRows.shift();
const expected = fs.readFileSync(path.join(root, 'models', 'income', 'sample_expected.csv'), 'utf8').trim().split('\n').map(Number);
const kindOf = Object.fromEntries(schema.features.map((f) => [f.name, f.type]));
const toRecord = (row) => {
  const rec = {};
  sampleHeader.forEach((h, k) => { if (row[k] !== '') rec[h] = kindOf[h] === 'categorical' ? row[k] : Number(row[k]); });
  return rec;
};
const sampleRecords = sampleRows.map(toRecord);

/* ------------------------------------------------------------------ main */

let browserContext = null;
let userDataDir = null;

/* Outside CI a missing browser is a skip; in CI (CI=true) it is a failure: the suite
 * installs both, so their absence means the set-up broke. */
function missing(what) {
  if (process.env.CI === 'true') {
    console.log(`not ok 1 - ${what}\n1..1`);
    process.exitCode = 1;
  } else {
    console.log(`1..0 # SKIP ${what}`);
  }
}

async function main() {
  if (!fs.existsSync(chromiumPath)) {
    missing(`no Chromium at ${chromiumPath} (apt-get install chromium)`);
    return;
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    missing(`playwright-core is not installed (npm ci --prefix tests/browser): ${err.message}`);
    return;
  }
  fs.mkdirSync(artifacts, { recursive: true });
  const grove = await startGrove();
  note(`grove on ${grove.base}`);
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grove-ui-chromium-'));
  browserContext = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // /dev/shm may be missing or tiny (containers, chroots): use /tmp for shared memory.
      '--disable-dev-shm-usage'],
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
  });
  const page = browserContext.pages()[0] || await browserContext.newPage();
  page.setDefaultTimeout(8000);
  const jsErrors = [];
  page.on('pageerror', (e) => jsErrors.push(`pageerror: ${e.message}`));
  // HTTP errors the tests provoke on purpose are logged by Chromium as "Failed to load resource": not JS errors.
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) jsErrors.push(`console: ${m.text()}`); });
  const predictPosts = [];
  page.on('request', (r) => { if (r.method() === 'POST' && /\/predict$/.test(new URL(r.url()).pathname)) predictPosts.push(r); });

  /* ---- the form ---- */
  await page.goto(grove.base + '/');
  await page.waitForSelector(`#f-${schema.features.length - 1}`);
  const fields = await page.$$eval('#fields .field', (els) => els.map((e) => {
    const label = e.querySelector('label');
    const c = e.querySelector('input, select');
    return {
      labelFor: label && label.getAttribute('for'), labelText: label && label.textContent, id: c.id, tag: c.tagName,
      name: c.name, type: c.type, min: c.getAttribute('min'), max: c.getAttribute('max'), step: c.getAttribute('step'),
      required: c.required, options: c.tagName === 'SELECT' ? [...c.options].map((o) => o.value) : null,
      help: (e.querySelector('.help') || {}).textContent || '',
    };
  }));
  ok(fields.length === schema.features.length, `the form has one field per schema feature (${schema.features.length})`, { got: fields.length });
  ok(fields.every((f, i) => f.name === schema.features[i].name && f.labelFor === f.id && f.labelText.startsWith(schema.features[i].name)),
    'each field is named after its feature, in schema order, with a <label for> tied to it', fields.map((f) => [f.name, f.labelFor, f.id]));
  const cats = schema.features.map((f, i) => [f, fields[i]]).filter(([f]) => f.type === 'categorical');
  ok(cats.length > 0 && cats.every(([f, g]) => g && g.tag === 'SELECT' && JSON.stringify(g.options) === JSON.stringify([''].concat(f.categories))),
    `categorical features are <select>s with the schema's category strings plus an empty "missing" option (${cats.length} of them)`,
    cats.filter(([f, g]) => !g || JSON.stringify(g.options) !== JSON.stringify([''].concat(f.categories))).map(([f, g]) => ({ feature: f.name, got: g && g.options })));
  const nums = schema.features.map((f, i) => [f, fields[i]]).filter(([f]) => f.type === 'numeric');
  ok(nums.every(([f, g]) => g && g.tag === 'INPUT' && g.type === 'number' && g.required && Number(g.min) === f.min && Number(g.max) === f.max && Number(g.step) === f.step),
    `numeric features are required <input type=number> with min/max/step from the schema (${nums.length} of them)`,
    nums.filter(([f, g]) => !(g && Number(g.min) === f.min && Number(g.max) === f.max)).map(([f, g]) => ({ feature: f.name, got: g })));
  ok(schema.features.every((f, i) => fields[i] && fields[i].help.includes(f.description)), 'each field shows its description as help text');

  /* ---- one prediction: the first row of sample.csv ---- */
  async function fillRecord(record) {
    for (const f of schema.features) {
      const v = record[f.name];
      const sel = `[name="${f.name}"]`;
      if (f.type === 'categorical') await page.selectOption(sel, v === undefined ? '' : String(v));
      else await page.fill(sel, v === undefined ? '' : String(v));
    }
  }
  const rec0 = sampleRecords[0];
  await fillRecord(rec0);
  const before = predictPosts.length;
  await page.click('#predict-btn');
  await page.waitForSelector('#result-prob');
  const shownProb = (await page.textContent('#result-prob')).trim();
  const shownLabel = (await page.textContent('#result-label')).trim();
  const api0 = await apiPredict(grove.base, [rec0]);
  const sentBody = predictPosts.length === before + 1 ? JSON.parse(predictPosts[before].postData()) : null;
  ok(sentBody && JSON.stringify(sentBody) === JSON.stringify({ records: [rec0], explain: true }),
    'Predict sends {"records": [the form\'s record], "explain": true} with missing categories left out', { sent: sentBody, want: { records: [rec0], explain: true } });
  ok(api0.status === 200 && shownProb === String(api0.body.predictions[0]),
    `the page shows the probability the API returns for sample row 1 (${shownProb})`, { shown: shownProb, api: api0.body });
  ok(Math.abs(Number(shownProb) - expected[0]) < 1e-6, 'and it agrees with sample_expected.csv within 1e-6', { shown: shownProb, expected: expected[0] });
  ok(shownLabel === api0.body.labels[0], `the page shows the label (${shownLabel})`, { shown: shownLabel, api: api0.body.labels });
  const barWidth = await page.$eval('#result .bar > div', (e) => parseFloat(e.style.width));
  ok(Math.abs(barWidth - Number(shownProb) * 100) < 0.01, 'the probability bar is as wide as the probability', { barWidth });
  const latency = await page.textContent('#latency');
  ok(/Round trip \d+(\.\d+)? ms/.test(latency) && /Server time \d+(\.\d+)? (ms|µs)/.test(latency),
    'the round trip measured in the page and the server\'s own time (Server-Timing) are shown', latency);
  const rawResp = await page.textContent('#raw-response');
  const curl = await page.textContent('#raw-curl');
  ok(rawResp.includes(String(api0.body.predictions[0])) && curl.startsWith('curl ') && curl.includes(`${grove.base}/v1/models/income/predict`) && curl.includes('"records"'),
    'the raw response and a curl command line are shown', { rawResp, curl });
  await page.click('#copy-curl');
  const copyStatus = await waitFor(async () => (await page.textContent('#copy-status')).trim(), 3000);
  ok(/Copied|Cannot copy/.test(copyStatus || ''), `"Copy as curl" answers (${copyStatus})`);

  /* ---- the explanation under the result (#16) ---- */
  const chart0 = await readChart(page);
  const exp0 = await apiPredict(grove.base, [rec0], { explain: true });
  const margin0 = await apiPredict(grove.base, [rec0], { margin: true });
  ok(chart0 !== null && exp0.status === 200 && Array.isArray(exp0.body.contributions),
    'the prediction comes with a chart of the contributions (the API explains income)', { chart: chart0, api: exp0 });
  if (chart0 && exp0.status === 200) {
    const names = exp0.body.feature_names;
    const g = exp0.body.contributions[0];
    ok(names.length === schema.features.length && g.length === names.length + 1, 'the API answers one contribution per feature and the bias', exp0.body);
    checkChart(chart0, g, names, rec0, margin0.body.predictions[0], 'income row 1');
    ok(chart0.finalProb === shownProb, `the chart's final probability is the prediction shown (${chart0.finalProb})`, { chart: chart0.finalProb, shown: shownProb });
    const baseP = 1 / (1 + Math.exp(-g[names.length]));
    ok(chart0.baseProb !== null && Math.abs(Number(chart0.baseProb) - baseP) < 1e-5,
      `the base probability is the sigmoid of the bias (${chart0.baseProb})`, { shown: chart0.baseProb, want: baseP });
    ok(/log-odds of >50K/.test(chart0.caption || ''), 'the caption says the contributions are log-odds of the positive class', chart0.caption);
  }

  /* ---- keyboard: Enter in a field submits ---- */
  const beforeEnter = predictPosts.length;
  await page.focus('#f-0');
  await page.keyboard.press('Enter');
  const entered = await waitFor(() => predictPosts.length > beforeEnter, 3000);
  await page.waitForFunction(() => !document.getElementById('predict-btn').disabled);
  // Exactly one: the page asks for "explain" in its one request per prediction (#16).
  ok(entered && predictPosts.length === beforeEnter + 1, 'Enter in a field submits the form, once (keyboard use)',
    { requests: predictPosts.length - beforeEnter });

  /* ---- validation in the page: nothing is sent ---- */
  const ageIdx = schema.features.findIndex((f) => f.name === 'age');
  const ageMax = schema.features[ageIdx].max;
  let n0 = predictPosts.length;
  await page.fill('[name="age"]', String(ageMax + 100));
  await page.click('#predict-btn');
  await sleep(300);
  let fieldErr = (await page.textContent(`#e-${ageIdx}`)).trim();
  ok(predictPosts.length === n0 && fieldErr !== '' && (await page.getAttribute('[name="age"]', 'aria-invalid')) === 'true',
    `an out-of-range value (age ${ageMax + 100}) is refused in the page, no request sent: "${fieldErr}"`, { requests: predictPosts.length - n0 });
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.name);
  ok(focused === 'age', 'the first invalid field gets the focus', { focused });
  n0 = predictPosts.length;
  await page.fill('[name="age"]', '');
  await page.click('#predict-btn');
  await sleep(300);
  fieldErr = (await page.textContent(`#e-${ageIdx}`)).trim();
  ok(predictPosts.length === n0 && fieldErr !== '', `an empty required field is refused in the page, no request sent: "${fieldErr}"`, { requests: predictPosts.length - n0 });
  await page.fill('[name="age"]', String(rec0.age));
  ok((await page.textContent(`#e-${ageIdx}`)).trim() === '', 'the message goes away once the value is fixed');

  /* ---- the server's own error ---- */
  await page.route('**/v1/models/income/predict', (route) => route.continue({
    postData: JSON.stringify({ records: [{ ...rec0, workclass: 'No-such-class' }] }),
    headers: { ...route.request().headers(), 'content-type': 'application/json' },
  }));
  const nBad = predictPosts.length;
  await page.click('#predict-btn');
  await page.waitForSelector('#server-error:not([hidden])');
  await sleep(300); // time for a second request, were one sent
  const errText = await page.textContent('#server-error');
  const apiErr = await apiPredict(grove.base, [{ ...rec0, workclass: 'No-such-class' }]);
  ok(apiErr.status === 400 && errText.includes('HTTP 400') && errText.includes(apiErr.body.error),
    'a request the server refuses shows its {"error"} next to the form', { shown: errText, api: apiErr.body });
  ok(!(await page.$('#result-prob')) && !(await page.$('#contrib-chart')), 'and no stale probability or explanation stays on screen');
  ok(predictPosts.length === nBad + 1, 'a refused record costs one request: it is not sent again without "explain" (#16)',
    { requests: predictPosts.length - nBad });
  await page.unroute('**/v1/models/income/predict');
  await page.click('#predict-btn');
  await page.waitForSelector('#result-prob');
  ok(await page.$eval('#server-error', (e) => e.hidden), 'the error goes away after a successful prediction');

  /* ---- batch: sample.csv ---- */
  const apiAll = await apiPredict(grove.base, sampleRecords);
  async function upload(file, timeout = 20000) {
    const n = predictPosts.length;
    await page.setInputFiles('#csv-file', file);
    await page.waitForSelector('#csv-download:not([hidden]), #batch-error:not([hidden])', { timeout });
    const err = await page.$eval('#batch-error', (e) => (e.hidden ? '' : e.textContent));
    if (err) return { err, requests: predictPosts.length - n };
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#csv-download')]);
    const text = fs.readFileSync(await dl.path(), 'utf8');
    return { rows: parseCsv(text).filter((r) => r.length > 1), name: dl.suggestedFilename(), requests: predictPosts.length - n, summary: await page.textContent('#batch-summary') };
  }
  const up = await upload(path.join(root, 'models', 'income', 'sample.csv'));
  ok(!up.err && up.requests === 1, `uploading sample.csv scores it in one request (${up.requests})`, up.err);
  if (!up.err) {
    const head = up.rows[0];
    const body = up.rows.slice(1);
    ok(JSON.stringify(head) === JSON.stringify(sampleHeader.concat(['prediction', 'label', 'error'])), 'the download has the original columns + prediction + label + error', head);
    ok(body.every((r) => r[sampleHeader.length + 2] === ''), 'and no row has an error');
    ok(body.length === sampleRows.length && body.every((r, k) => JSON.stringify(r.slice(0, sampleHeader.length)) === JSON.stringify(sampleRows[k])),
      `every row (${sampleRows.length}) keeps its original fields`);
    const preds = body.map((r) => r[sampleHeader.length]);
    ok(preds.length === apiAll.body.predictions.length && preds.every((p, k) => p === String(apiAll.body.predictions[k])),
      "the downloaded predictions equal the API's", { downloaded: preds, api: apiAll.body.predictions });
    ok(body.every((r, k) => r[sampleHeader.length + 1] === apiAll.body.labels[k]), "the downloaded labels equal the API's");
    ok(preds.every((p, k) => Math.abs(Number(p) - expected[k]) < 1e-6), 'and the predictions agree with sample_expected.csv within 1e-6');
    ok(/20 of 20 rows scored in 1 request/.test(up.summary) && up.name === 'sample-predictions.csv', `summary and file name (${up.summary.trim()} / ${up.name})`);
    const shown = await page.$$eval('#batch-table tbody tr', (trs) => trs.map((tr) => tr.querySelector('td.pred').textContent));
    ok(shown.length === 10 && shown.every((p, k) => p === String(apiAll.body.predictions[k])), 'the first 10 rows are shown with their predictions', shown);
  }

  /* ---- batch: contribution columns (#16); ticking the box scores the last file again ---- */
  {
    const offered = await page.$eval('#csv-contrib', (e) => !e.disabled);
    ok(offered && await page.$eval('#csv-contrib-note', (e) => e.hidden),
      'income can be explained ("explainable": true): "add contribution columns" is offered, with no note');
    const n = predictPosts.length;
    await page.check('#csv-contrib');
    await page.waitForFunction(() => /contribution columns/.test(document.getElementById('batch-summary').textContent), null, { timeout: 20000 });
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#csv-download')]);
    const rows = parseCsv(fs.readFileSync(await dl.path(), 'utf8')).filter((r) => r.length > 1);
    const sent = predictPosts.slice(n).map((r) => JSON.parse(r.postData()));
    const expAll = await apiPredict(grove.base, sampleRecords, { explain: true });
    const marginAll = await apiPredict(grove.base, sampleRecords, { margin: true });
    ok(sent.length === 1 && sent[0].explain === true && sent[0].records.length === sampleRecords.length,
      'ticking "add contribution columns" scores sample.csv again, asking for "explain"', sent.map((b) => Object.keys(b)));
    const names = expAll.body.feature_names || [];
    const head = rows[0] || [];
    const cc = sampleHeader.length + 3;
    ok(expAll.status === 200 && JSON.stringify(head) === JSON.stringify(sampleHeader.concat(['prediction', 'label', 'error'], names.map((f) => `contrib_${f}`), ['contrib_bias'])),
      'the download has contrib_<feature> for every feature and contrib_bias after the error column', head);
    const body = rows.slice(1);
    ok(body.length === sampleRows.length && body.every((r, k) => r[sampleHeader.length] === String(apiAll.body.predictions[k])),
      'and still the same predictions', body.map((r) => r[sampleHeader.length]));
    const apiContribs = Array.isArray(expAll.body.contributions) ? expAll.body.contributions : [];
    ok(apiContribs.length === body.length && body.every((r, k) => JSON.stringify(r.slice(cc)) === JSON.stringify(apiContribs[k].map(String))),
      "the contribution cells are the API's numbers, row by row");
    const off = body.map((r, k) => (r.length > cc && marginAll.status === 200 ? Math.abs(sum(r.slice(cc).map(Number)) - marginAll.body.predictions[k]) : Infinity));
    // The margin is the engine's single-precision sum over 300 trees, sent with 9 digits;
    // the contributions are doubles: they agree to float32's precision, not to 1e-6.
    ok(off.length === sampleRows.length && off.every((d) => d < 1e-5),
      `per row, the contributions and the bias add up to the API's margin within 1e-5 (largest difference ${Math.max(...off).toExponential(2)})`, off);
    // Untick: the same file again, without the columns (waited for, so that the next upload starts clean).
    await page.uncheck('#csv-contrib');
    await page.waitForFunction(() => !document.getElementById('csv-download').hidden && !/contribution columns/.test(document.getElementById('batch-summary').textContent), null, { timeout: 20000 });
    const plain = predictPosts.slice(n + 1).map((r) => JSON.parse(r.postData()));
    ok(plain.length === 1 && plain[0].explain === undefined, 'unticking it scores the file again without "explain"', plain.map((b) => Object.keys(b)));
  }

  /* ---- "Load" puts a CSV row into the form ---- */
  await page.click('#batch-table tbody tr:nth-child(3) button');
  const loaded = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#fields input, #fields select')].map((c) => [c.name, c.value])));
  ok(sampleHeader.every((h, k) => loaded[h] === sampleRows[2][k]), '"Load" on a preview row fills the form with that CSV row', { loaded, row: sampleRows[2] });

  /* ---- batch: 2500 rows, quoted fields, an extra column -> chunks of 1000 ---- */
  const big = path.join(os.tmpdir(), `grove-ui-big-${process.pid}.csv`);
  const quote = (s) => `"${s.replace(/"/g, '""')}"`;
  const bigLines = [['note'].concat(sampleHeader).map(quote).join(',')];
  const bigRecords = [];
  for (let k = 0; k < 2500; k++) {
    const src = sampleRows[k % sampleRows.length];
    bigLines.push([quote(`row ${k}, "quoted"`)].concat(src.map((v, j) => (kindOf[sampleHeader[j]] === 'categorical' ? quote(v) : v))).join(','));
    bigRecords.push(sampleRecords[k % sampleRecords.length]);
  }
  fs.writeFileSync(big, bigLines.join('\r\n') + '\r\n');
  const upBig = await upload(big);
  fs.rmSync(big, { force: true });
  ok(!upBig.err && upBig.requests === 3, `a 2500-row CSV with quoted fields is scored in 3 requests of at most 1000 rows (${upBig.requests})`, upBig.err);
  if (!upBig.err) {
    const body = upBig.rows.slice(1);
    const want = bigRecords.map((_, k) => String(apiAll.body.predictions[k % sampleRecords.length]));
    ok(body.length === 2500 && body.every((r, k) => r[0] === `row ${k}, "quoted"` && r[sampleHeader.length + 1] === want[k]),
      'every row comes back with its quoted extra column intact and the right prediction', body.slice(0, 2));
  }

  /* ---- batch: bad rows are reported, the others scored ---- */
  const mixed = path.join(os.tmpdir(), `grove-ui-mixed-${process.pid}.csv`);
  const mixedRows = sampleRows.slice(0, 6).map((r) => r.slice());
  const wc = sampleHeader.indexOf('workclass');
  const age = sampleHeader.indexOf('age');
  mixedRows[1][wc] = 'Spaceman';
  mixedRows[4][age] = 'old';
  fs.writeFileSync(mixed, [sampleHeader.join(',')].concat(mixedRows.map((r) => r.join(','))).join('\n') + '\n');
  const upMixed = await upload(mixed);
  fs.rmSync(mixed, { force: true });
  ok(!upMixed.err && upMixed.requests === 1, 'a CSV with 2 bad rows of 6 is scored, not refused', upMixed.err);
  if (!upMixed.err) {
    const body = upMixed.rows.slice(1);
    const pc = sampleHeader.length;
    ok(body[1][pc] === '' && /workclass.*unknown category "Spaceman"/.test(body[1][pc + 2])
      && body[4][pc] === '' && /age.*expected a number/.test(body[4][pc + 2]),
    'bad rows: an empty prediction and the reason in the error column', [body[1], body[4]]);
    ok([0, 2, 3, 5].every((k) => body[k][pc] === String(apiAll.body.predictions[k]) && body[k][pc + 2] === ''),
      'the good rows get the same predictions as alone');
    const failures = await page.$$eval('#batch-failures li', (lis) => lis.map((li) => li.textContent));
    ok(/4 of 6 rows scored, 2 failed/.test(upMixed.summary) && failures.length === 2
      && /^CSV data row 2: .*Spaceman/.test(failures[0]) && /^CSV data row 5: .*age/.test(failures[1]),
    'the page says how many failed and why, with row numbers', { summary: upMixed.summary, failures });
  }

  /* ---- batch: the tutorial's whole adult.csv (32,561 rows, "?" for missing values) ---- */
  const adult = path.join(os.tmpdir(), `grove-ui-adult-${process.pid}.csv`);
  fs.writeFileSync(adult, zlib.gunzipSync(fs.readFileSync(path.join(root, 'models', 'adult.csv.gz'))));
  const tAdult = Date.now();
  const upAdult = await upload(adult, 120000);
  const adultS = (Date.now() - tAdult) / 1000;
  fs.rmSync(adult, { force: true });
  // Timed, not asserted (a timing assertion flakes; bench/RESULTS.md keeps the figure).
  note(`adult.csv: 32,561 rows scored from the page and downloaded in ${adultS.toFixed(2)} s (${os.cpus()[0].model}, ${os.cpus().length} cores)`);
  ok(!upAdult.err && upAdult.requests === 33, `the whole adult.csv is scored from the page in 33 requests (${upAdult.requests})`, upAdult.err);
  if (!upAdult.err) {
    const head = upAdult.rows[0];
    const body = upAdult.rows.slice(1);
    const pc = head.indexOf('prediction');
    const ec = head.indexOf('error');
    ok(body.length === 32561 && pc === 15 && ec === 17 && body.every((r) => r[pc] !== '' && r[ec] === ''),
      'every one of its 32,561 rows has a prediction and no error (the schema reads "?" as missing)',
      body.filter((r) => r[ec] !== '').slice(0, 3));
    // The same rows through the API directly ("?" sent as-is): the page's answers agree.
    const idx = [0, 14, 27, 38, 61, 77, 93, 106, 32560]; // 14, 27, 38, 61, ... hold "?"
    const recs = idx.map((k) => Object.fromEntries(sampleHeader.map((h, j) => {
      const v = body[k][j].trim();
      return [h, kindOf[h] === 'categorical' || v === '?' ? v : Number(v)];
    })));
    const api = await apiPredict(grove.base, recs);
    ok(api.status === 200 && idx.every((k, n) => body[k][pc] === String(api.body.predictions[n])),
      'rows with and without "?" agree with the API', { page: idx.map((k) => body[k][pc]), api: api.body.predictions });
  }

  /* ---- the tutorial's form posted by the browser itself, no JavaScript ---- */
  const formPage = await browserContext.newPage();
  await formPage.route('**/tutorial-form.html', (route) => route.fulfill({
    contentType: 'text/html',
    body: `<!doctype html><form method="post" action="/predict">${
      [['age', '39'], ['workclass', 'State-gov'], ['education', 'Bachelors'], ['marital-status', 'Never-married'],
        ['occupation', 'Adm-clerical'], ['relationship', 'Not-in-family'], ['race', 'White'], ['gender', 'Male'],
        ['capital-gain', '2174'], ['capital-loss', '0'], ['hours-per-week', '40'], ['native-country', 'United-States']]
        .map(([n, v]) => `<input name="${n}" value="${v}">`).join('')}<button id="go">Predict</button></form>`,
  }));
  await formPage.goto(`${grove.base}/tutorial-form.html`);
  await Promise.all([formPage.waitForNavigation(), formPage.click('#go')]);
  const formLabel = await formPage.textContent('#label').catch(() => null);
  const formPred = await formPage.textContent('#prediction').catch(() => null);
  const tutorialRecord = { age: 39, workclass: 'State-gov', education: 'Bachelors', 'marital-status': 'Never-married',
    occupation: 'Adm-clerical', relationship: 'Not-in-family', race: 'White', gender: 'Male', 'capital-gain': 2174,
    'capital-loss': 0, 'hours-per-week': 40, 'native-country': 'United-States' };
  const tut = await (await fetch(`${grove.base}/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ records: [tutorialRecord] }) })).json();
  ok(formLabel === tut.labels[0] && Math.abs(Number(formPred) - tut.predictions[0]) < 1e-6,
    `a plain HTML form post of the tutorial's 12 fields gets a result page that agrees with JSON (${formLabel}, ${formPred})`,
    { formLabel, formPred, json: tut });
  await formPage.close();

  /* ---- screenshots of the prediction page ---- */
  const shots = [];
  async function shoot(name, w, h) {
    await page.setViewportSize({ width: w, height: h });
    await sleep(250);
    const file = path.join(artifacts, `${name}-${w}x${h}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
    return page.evaluate(() => document.documentElement.scrollWidth);
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  const wDesk = await shoot('predict', 1280, 800);
  const wPhone = await shoot('predict', 390, 844);
  ok(wDesk <= 1280 && wPhone <= 390, `the prediction page does not scroll sideways (scrollWidth ${wDesk} at 1280, ${wPhone} at 390)`);
  await page.setViewportSize({ width: 1280, height: 800 });

  /* ---- admin dashboard ---- */
  await page.goto(grove.base + '/admin.html');
  await page.waitForSelector('[data-model-row="income"]');
  const row = await page.$$eval('[data-model-row="income"] td, [data-model-row="income"] th', (c) => c.map((x) => x.textContent.trim()));
  ok(row[0].startsWith('income') && row.includes('xgboost-json') && row.includes('binary:logistic') && row.includes('300') && row.includes('14') && row.includes('<=50K, >50K'),
    'the dashboard lists the income model (format, objective, trees, features, classes)', row);
  const skRow = await page.$$eval('[data-model-row="income-sklearn"] td', (c) => c.map((x) => x.textContent.trim()));
  ok(skRow.includes('scikit-learn (GradientBoostingClassifier)') && skRow.includes('101') && skRow.includes('12'),
    'the dashboard shows income-sklearn as a converted scikit-learn model (source format and estimator)', skRow);
  await page.waitForFunction(() => document.querySelectorAll('#config dt').length > 3);
  const config = await page.$$eval('#config > div', (ds) => Object.fromEntries(ds.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
  ok(config['max batch rows'] === '4,096' && config.workers === '1' && config['max delay'] === '0 µs', 'the batching settings from /admin/config are shown', config);
  ok((await page.$$('.uplot')).length === 5, 'five uPlot charts are drawn');
  await page.waitForFunction(() => window.groveAdmin && window.groveAdmin.series.t.length >= 3, null, { timeout: 6000 });
  const rpsBefore = await page.evaluate(() => window.groveAdmin.series.rps.slice());
  // A burst: 200 predict requests of 5 rows, 20 at a time, and 5 refused ones.
  const burst = async () => {
    for (let k = 0; k < 10; k++) {
      await Promise.all(Array.from({ length: 20 }, () => apiPredict(grove.base, sampleRecords.slice(0, 5))));
    }
    for (let k = 0; k < 5; k++) await fetch(`${grove.base}/v1/models/income/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"records": [' });
  };
  await burst();
  const moved = await waitFor(() => page.evaluate(() => {
    const s = window.groveAdmin.series;
    const max = (a) => Math.max(0, ...a.filter((v) => v !== null));
    return max(s.rps) > 0 && max(s.rowsps) > 0 && s.p99.some((v) => v !== null) && s.status['400'] && max(s.status['400']) > 0 ? true : null;
  }), 6000);
  ok(moved && Math.max(0, ...rpsBefore.filter((v) => v !== null)) === 0, 'after a burst of 200 requests the requests/s, rows/s, p99 and 400/s series move', rpsBefore);
  const tiles = await page.evaluate(() => ({ rps: document.getElementById('stat-rps').textContent, p99: document.getElementById('stat-p99').textContent }));
  ok(/ms|µs/.test(tiles.p99), `the p99 tile shows a latency (${tiles.p99})`, tiles);
  const batchSum = await page.evaluate(() => window.groveAdmin.charts.batch.data[1].reduce((a, b) => a + b, 0));
  ok(batchSum > 0, `the batch-size chart counts the burst's batches (${batchSum})`);
  const rpsMax = await page.evaluate(() => Math.max(...window.groveAdmin.series.rps.filter((v) => v !== null)));
  ok(rpsMax >= 50, `a requests/s point reflects the burst (max ${rpsMax.toFixed(1)})`);

  /* ---- reload ---- */
  await page.click('button[data-model="income"]');
  const reloaded = await waitFor(async () => /reloaded/.test(await page.textContent('[data-status-for="income"]')), 8000);
  ok(reloaded, 'the reload button reloads the model');
  ok((await page.textContent('[data-reloads="income"]')).trim() === '1' && (await metricValue(grove.base, 'grove_model_reloads_total', 'model="income"')) === 1,
    'the reload counter is 1 on the page and in /metrics');

  /* ---- screenshots of the dashboard ---- */
  await sleep(1200);
  await shoot('admin', 1280, 800);
  await page.waitForTimeout(300);
  const wAdminPhone = await shoot('admin', 390, 844);
  ok(wAdminPhone <= 390, `the dashboard does not scroll sideways at 390 px (scrollWidth ${wAdminPhone})`);
  await page.setViewportSize({ width: 1280, height: 800 });

  /* ---- admin token: a daemon with --admin-token ---- */
  const secured = await startGrove(['--admin-token', 'sesame']);
  const authHeaders = [];
  page.on('request', (r) => { if (r.url().includes('/admin/')) authHeaders.push(r.headers().authorization || null); });
  await page.goto(secured.base + '/admin.html');
  await page.waitForSelector('#token-panel:not([hidden])');
  ok(true, 'with --admin-token, /admin/config answers 401 and the page asks for the token');
  await page.fill('#token-input', 'wrong');
  await page.press('#token-input', 'Enter');
  await page.waitForSelector('#token-panel:not([hidden])');
  ok(/refused/.test(await page.textContent('#token-why')), 'a wrong token is refused and asked again');
  await page.fill('#token-input', 'sesame');
  await page.click('#token-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#config dt').length > 3);
  ok(authHeaders.includes('Bearer sesame'), 'the right token is sent as Authorization: Bearer and the settings appear');
  ok((await page.evaluate(() => sessionStorage.getItem('grove-admin-token'))) === 'sesame', 'the token is kept in sessionStorage');
  await page.waitForSelector('button[data-model="income"]');
  await page.click('button[data-model="income"]');
  ok(await waitFor(async () => /reloaded/.test(await page.textContent('[data-status-for="income"]')), 8000), 'reload works with the token');
  await stopGrove(secured);

  /* ---- several models, no schema.json: a picker, numbered fields, class probabilities ---- */
  const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'grove-ui-models-'));
  fs.symlinkSync(path.join(root, 'models', 'income'), path.join(modelsDir, 'income'));
  for (const [dir, fixture] of [['multi', 'multi_softprob.json'], ['cat', 'categorical.json']]) {
    fs.mkdirSync(path.join(modelsDir, dir));
    fs.copyFileSync(path.join(root, 'tests', 'fixtures', fixture), path.join(modelsDir, dir, 'model.json'));
  }
  // A LightGBM model with linear trees: it predicts, but has no contributions to give (#16).
  fs.mkdirSync(path.join(modelsDir, 'linear'));
  fs.writeFileSync(path.join(modelsDir, 'linear', 'model.txt'),
    zlib.gunzipSync(fs.readFileSync(path.join(root, 'tests', 'lightgbm', 'fixtures', 'linear_tree_binary.model.txt.gz'))));
  const multi = await startGrove(['--models', modelsDir]);
  await page.goto(multi.base + '/');
  await page.waitForSelector('#picker-wrap:not([hidden])');
  const options = await page.$$eval('#model-picker option', (o) => o.map((x) => x.value).sort());
  ok(JSON.stringify(options) === JSON.stringify(['cat', 'income', 'linear', 'multi']), 'with four models loaded the page shows a model picker', options);
  ok((await page.$eval('#model-picker', (e) => e.value)) === 'income' && (await page.$$('#fields .field')).length === 14, 'income is picked first');
  await page.selectOption('#model-picker', 'multi');
  await page.waitForFunction(() => document.querySelectorAll('#fields .field').length === 3);
  const mfields = await page.$$eval('#fields input', (i) => i.map((x) => [x.name, x.type, x.required]));
  ok(JSON.stringify(mfields) === JSON.stringify([['f0', 'number', true], ['f1', 'number', true], ['f2', 'number', true]]),
    'a model without schema.json or feature names gets numeric fields f0..f2', mfields);
  ok(new URL(page.url()).searchParams.get('model') === 'multi', 'the picked model is kept in the URL (?model=multi)');
  for (const [k, v] of [['f0', '1'], ['f1', '2'], ['f2', '3']]) await page.fill(`[name="${k}"]`, v);
  await page.click('#predict-btn');
  await page.waitForSelector('#result-prob-2');
  const mshown = await page.$$eval('#result .prob-row [id^="result-prob"]', (e) => e.map((x) => x.textContent));
  const mapi = await (await fetch(`${multi.base}/v1/models/multi/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ records: [{ f0: 1, f1: 2, f2: 3 }] }) })).json();
  ok(JSON.stringify(mshown) === JSON.stringify(mapi.predictions[0].map(String)) && (await page.textContent('#result-label')) === String(mapi.labels[0]),
    'a multi-class model shows one probability per class and the label, as the API does', { shown: mshown, api: mapi });
  {
    const mrec = { f0: 1, f1: 2, f2: 3 };
    const chart = await waitFor(() => readChart(page), 3000);
    const exp = await apiPredict(multi.base, [mrec], { explain: true }, 'multi');
    const marg = await apiPredict(multi.base, [mrec], { margin: true }, 'multi');
    const probs = mapi.predictions[0];
    const k = probs.indexOf(Math.max(...probs));
    const picked = await page.$eval('#explain-class', (e) => e.value).catch(() => null);
    ok(exp.status === 200 && chart && chart.cls === k && picked === String(k) && /predicted class/.test(chart.caption),
      `a multi-class model: the chart is for the predicted class (${k}), and says so`, { chart, picked, api: exp.body });
    if (exp.status === 200 && chart) {
      const names = exp.body.feature_names;
      checkChart(chart, exp.body.contributions[0][k], names, mrec, marg.body.predictions[0][k], `multi-class, class ${k}`);
      ok(chart.finalProb === mshown[k], `its final probability is the predicted class's probability shown (${chart.finalProb})`, { chart: chart.finalProb, shown: mshown });
      const other = (k + 1) % probs.length;
      await page.selectOption('#explain-class', String(other));
      const chart2 = await readChart(page);
      ok(chart2.cls === other && Math.abs(chart2.base + sum(chart2.bars.map((b) => b.c)) - marg.body.predictions[0][other]) < 1e-5
        && chart2.finalProb === mshown[other] && !/predicted class/.test(chart2.caption),
      `picking class ${other} draws its contributions, adding up to its margin`, chart2);
    }
  }
  await shoot('predict-multiclass', 1280, 800);
  await page.selectOption('#model-picker', 'cat');
  await page.waitForSelector('#fields [name="colour"]');
  const colour = await page.$eval('[name="colour"]', (e) => [e.tagName, e.type, e.required]);
  ok(JSON.stringify(colour) === JSON.stringify(['INPUT', 'number', false]), 'a categorical feature without category names takes a code (optional: empty = missing)', colour);
  await page.fill('[name="colour"]', '2');
  await page.fill('[name="size"]', '1.5');
  await page.click('#predict-btn');
  await page.waitForSelector('#result-prob');
  const capi = await (await fetch(`${multi.base}/v1/models/cat/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ records: [{ colour: 2, size: 1.5 }] }) })).json();
  ok((await page.textContent('#result-prob')) === String(capi.predictions[0]), 'and its prediction matches the API', capi);
  const cchart = await waitFor(() => readChart(page), 3000);
  ok(cchart && cchart.bars.some((b) => b.label === 'colour = 2') && cchart.finalProb === String(capi.predictions[0]),
    'its explanation labels the category code as entered (colour = 2)', cchart && cchart.bars.map((b) => b.label));

  /* ---- a model that cannot be explained: the prediction as before, and a quiet note ---- */
  await page.selectOption('#model-picker', 'linear');
  await page.waitForSelector('#fields [name="f5"]');
  const lrec = { f0: -1.0821015042096975, f1: -0.4593885905368326, f2: -0.03417676397132588, f3: 0.2807268087267097, f4: 1.375418747265058, f5: 0 };
  for (const [k, v] of Object.entries(lrec)) await page.fill(`[name="${k}"]`, String(v));
  const lmeta = await (await fetch(`${multi.base}/v1/models/linear`)).json();
  const why = lmeta.explain_error;
  const nLinear = predictPosts.length;
  await page.click('#predict-btn');
  await page.waitForSelector('#result-prob');
  await sleep(300); // time for a second request, were one sent
  const lexp = await apiPredict(multi.base, [lrec], { explain: true }, 'linear');
  const lapi = await apiPredict(multi.base, [lrec], {}, 'linear');
  const lnote = await waitFor(() => page.$eval('#explain-note', (e) => e.textContent), 3000);
  ok(lmeta.explainable === false && typeof why === 'string' && why.length > 0,
    `its metadata says it cannot be explained ("explainable": false, "explain_error": "${why}")`, lmeta);
  ok(lexp.status === 422 && typeof lexp.body.error === 'string' && typeof why === 'string' && lexp.body.error.includes(why),
    `the API refuses to explain it with the same reason (HTTP ${lexp.status}: ${lexp.body.error})`, lexp);
  ok((await page.textContent('#result-prob')) === String(lapi.body.predictions[0]) && !(await page.$('#contrib-chart'))
    && await page.$eval('#server-error', (e) => e.hidden),
  'the page still shows its prediction, no chart and no error box', lapi.body);
  const lsent = predictPosts.slice(nLinear).map((r) => JSON.parse(r.postData()));
  ok(lsent.length === 1 && JSON.stringify(lsent[0]) === JSON.stringify({ records: [lrec] }),
    'one request per prediction, without "explain": the metadata said it would be refused', lsent);
  ok(typeof lnote === 'string' && typeof why === 'string' && lnote.includes(why),
    "and a note with the metadata's reason", { note: lnote, reason: why });
  // The batch: no contribution columns to offer, and the reason next to the greyed box.
  const lbox = await page.$eval('#csv-contrib', (e) => ({ disabled: e.disabled, checked: e.checked }));
  const lboxNote = await page.$eval('#csv-contrib-note', (e) => (e.hidden ? null : e.textContent));
  ok(lbox.disabled && !lbox.checked && typeof lboxNote === 'string' && typeof why === 'string' && lboxNote.includes(why),
    '"add contribution columns" is off and disabled for it, with the reason next to it', { box: lbox, note: lboxNote });
  const nBatch = predictPosts.length;
  await page.setInputFiles('#csv-file', { name: 'linear.csv', mimeType: 'text/csv',
    buffer: Buffer.from(`${Object.keys(lrec).join(',')}\n${Object.values(lrec).join(',')}\n`) });
  await page.waitForSelector('#csv-download:not([hidden]), #batch-error:not([hidden])');
  const bsent = predictPosts.slice(nBatch).map((r) => JSON.parse(r.postData()));
  const bsummary = await page.textContent('#batch-summary');
  ok(bsent.length === 1 && bsent[0].explain === undefined && /1 of 1 row scored in 1 request/.test(bsummary),
    'a CSV for it is scored in one request, without "explain"', { sent: bsent, summary: bsummary });
  await shoot('predict-unexplainable', 1280, 800);
  ok((await shoot('predict-unexplainable', 390, 844)) <= 390, 'with the reasons shown, the page does not scroll sideways at 390 px');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.selectOption('#model-picker', 'income');
  await page.waitForSelector('#fields [name="workclass"]');
  ok(await page.$eval('#csv-contrib', (e) => !e.disabled) && await page.$eval('#csv-contrib-note', (e) => e.hidden),
    'back on income, the box is offered again and the note is gone');
  await stopGrove(multi);
  fs.rmSync(modelsDir, { recursive: true, force: true });

  ok(jsErrors.length === 0, 'no JavaScript errors in either page', jsErrors);
  note(`screenshots: ${shots.join(' ')}`);
}

const timer = setTimeout(() => {
  console.log('Bail out! the browser tests took more than 150 s');
  process.exit(1);
}, 150000);

let crashed = null;
try {
  await main();
} catch (err) {
  crashed = err;
}
try { if (browserContext) await browserContext.close(); } catch (_) { /* already gone */ }
for (const d of daemons) await stopGrove(d);
if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
clearTimeout(timer);
if (crashed) {
  ok(false, `the test run finished without an exception: ${crashed.message.split('\n')[0]}`, crashed.stack);
  for (const d of daemons) note(`grove log (${d.port}):\n${d.log().split('\n').slice(-15).join('\n')}`);
}
if (count > 0 || crashed) console.log(`1..${count}`);
process.exitCode = failures ? 1 : 0;
