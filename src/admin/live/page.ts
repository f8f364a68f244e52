/**
 * The live view page (GET /live): one HTML document with its CSS and script inline, so it needs no build
 * step, no static file on disk and no third-party origin. It holds no data: its script reads GET /v1/live
 * with the admin token the engineer types in (kept in the tab's sessionStorage), every few seconds.
 *
 * The script is plain ES2017 in a String.raw template: it must never contain a backtick or a dollar-brace.
 * Everything from the API reaches the page through textContent or SVG attributes, never through innerHTML.
 * The Content-Security-Policy allows exactly this inline script and style (by hash), and fetches to this
 * origin only.
 */
import { createHash } from 'node:crypto';

const STYLE = String.raw`
:root {
  --bg: #f4f6f9; --card: #ffffff; --ink: #0f172a; --ink-2: #334155; --muted: #64748b; --line: #e2e8f0;
  --head: #0b1220; --accent: #2563eb; --ok: #15803d; --ok-bg: #dcfce7; --bad: #b91c1c; --bad-bg: #fee2e2;
  --warn: #b45309; --warn-bg: #fef3c7;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--ink); }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.mono, td.acct .id { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; }
td.acct .id { font-size: 13px; }
.num { font-variant-numeric: tabular-nums; text-align: right; white-space: nowrap; }
[hidden] { display: none !important; }

header.top { background: var(--head); color: #e2e8f0; padding: 12px 24px; display: flex; align-items: center; gap: 24px; flex-wrap: wrap; }
.brand { font-weight: 650; font-size: 16px; letter-spacing: .2px; color: #fff; display: flex; align-items: center; gap: 8px; }
.brand .dot { width: 10px; height: 10px; border-radius: 50%; background: #22c55e; box-shadow: 0 0 0 3px rgba(34,197,94,.25); }
.brand .sub { font-weight: 400; color: #94a3b8; }
.meta { margin-left: auto; display: flex; align-items: center; gap: 18px; color: #94a3b8; font-size: 13px; flex-wrap: wrap; }
.meta b { color: #f1f5f9; font-weight: 600; }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #1e293b; color: #cbd5e1; }
.pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: #94a3b8; }
.pill.ok { background: rgba(34,197,94,.15); color: #86efac; } .pill.ok::before { background: #22c55e; }
.pill.error { background: rgba(239,68,68,.18); color: #fca5a5; } .pill.error::before { background: #ef4444; }
.pill.paused { background: rgba(234,179,8,.15); color: #fde68a; } .pill.paused::before { background: #eab308; }
button { font: inherit; cursor: pointer; border-radius: 6px; }
button.ghost { background: transparent; color: #cbd5e1; border: 1px solid #334155; padding: 3px 10px; font-size: 12px; }
button.ghost:hover { border-color: #64748b; color: #fff; }

main { padding: 20px 24px 32px; max-width: 1480px; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; box-shadow: 0 1px 2px rgba(15,23,42,.04); }
.banner { margin-bottom: 16px; padding: 10px 14px; border-radius: 8px; background: var(--bad-bg); color: var(--bad); border: 1px solid #fecaca; }

.auth { max-width: 460px; margin: 56px auto; padding: 28px 28px 24px; }
.auth h1 { margin: 0 0 6px; font-size: 18px; }
.auth p { margin: 0 0 16px; color: var(--muted); }
.auth form { display: flex; gap: 8px; }
.auth input { flex: 1; font: inherit; padding: 8px 10px; border: 1px solid #cbd5e1; border-radius: 6px; }
.auth input:focus { outline: 2px solid rgba(37,99,235,.35); border-color: var(--accent); }
.auth button { background: var(--accent); color: #fff; border: 0; padding: 8px 16px; font-weight: 600; }
.auth .error { color: var(--bad); margin: 12px 0 0; }

.tiles { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 14px; margin-bottom: 16px; }
.tile { padding: 14px 16px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .06em; }
.tile .value { font-size: 26px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.tile .hint { color: var(--muted); font-size: 12px; }

.charts { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.35fr); gap: 14px; margin-bottom: 16px; }
figure.chart { margin: 0; padding: 14px 16px 12px; }
figure.chart figcaption { display: flex; align-items: baseline; gap: 8px; font-weight: 600; margin-bottom: 6px; }
figure.chart figcaption .muted { font-weight: 400; }
figure.chart svg { display: block; width: 100%; height: 190px; }
svg .grid { stroke: #eef2f7; stroke-width: 1; }
svg .axis { fill: #94a3b8; font-size: 11px; font-family: system-ui, sans-serif; }
svg .empty { fill: #94a3b8; font-size: 12px; font-family: system-ui, sans-serif; }
.legend { list-style: none; margin: 10px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 12.5px; color: var(--ink-2); }
.legend li { display: inline-flex; align-items: center; gap: 6px; }
.legend li.zero { color: #94a3b8; }
.legend .swatch { width: 10px; height: 10px; border-radius: 2px; display: inline-block; }
.legend .count { font-variant-numeric: tabular-nums; font-weight: 600; }
.muted { color: var(--muted); }

.table-card { overflow: hidden; }
.table-head { display: flex; align-items: center; gap: 12px; padding: 14px 16px; border-bottom: 1px solid var(--line); }
.table-head h2 { margin: 0; font-size: 15px; }
.table-head .pager { margin-left: auto; display: flex; gap: 6px; align-items: center; }
.pager button { background: #fff; border: 1px solid #cbd5e1; padding: 3px 10px; font-size: 12px; }
.pager button:disabled { opacity: .4; cursor: default; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: 11.5px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); font-weight: 600; padding: 9px 14px; background: #f8fafc; border-bottom: 1px solid var(--line); white-space: nowrap; }
th.num { text-align: right; }
td { padding: 9px 14px; border-bottom: 1px solid #f1f5f9; vertical-align: top; }
tbody tr:hover td { background: #f8fafc; }
tbody tr:last-child td { border-bottom: 0; }
td .sub { color: var(--muted); font-size: 12px; margin-top: 1px; font-family: system-ui, sans-serif; }
td.acct .id { font-weight: 600; }
td.empty { text-align: center; color: var(--muted); padding: 28px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11.5px; font-weight: 700; letter-spacing: .04em; }
.badge.on { background: var(--ok-bg); color: var(--ok); }
.badge.off { background: var(--bad-bg); color: var(--bad); }
.neg { color: var(--bad); }
.soon { color: var(--warn); font-weight: 600; }
.meter { display: block; height: 4px; background: #eef2f7; border-radius: 2px; margin-top: 5px; overflow: hidden; margin-left: auto; width: 80px; }
.meter > span { display: block; height: 100%; background: var(--accent); }
.meter.full > span { background: var(--bad); }
.meter.high > span { background: #f59e0b; }
footer { color: var(--muted); font-size: 12px; margin-top: 14px; }
@media (max-width: 1100px) { .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); } .charts { grid-template-columns: 1fr; } }
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var TOKEN_KEY = 'callgate.adminToken';
  var PAGE_SIZE = 200;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var COLORS = {
    admitted: '#16a34a', unknown_account: '#7c3aed', no_rate: '#db2777', off_manual: '#475569', off_funds: '#ea580c',
    insufficient_funds: '#eab308', cps_exceeded: '#2563eb', channel_limit: '#0891b2', unavailable: '#dc2626'
  };
  var FALLBACK_COLORS = ['#9333ea', '#0d9488', '#4f46e5', '#be123c'];
  var OFF_REASONS = { depleted: 'depleted', credit_limit: 'credit limit', manual: 'manual' };
  var usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var whole = new Intl.NumberFormat('en-US');
  var state = { offset: 0, timer: 0, inFlight: false, last: null, refreshMs: 3000, waitingForToken: false };

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function readToken() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
  function writeToken(t) {
    try { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ }
  }

  function money(micros) { return usd.format(micros / 1e6); }
  function span(seconds) {
    if (seconds < 60) return seconds + 's';
    var m = Math.floor(seconds / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d > 0) return d + 'd ' + (h % 24) + 'h';
    if (h > 0) return h + 'h ' + (m % 60) + 'm';
    return m + 'm';
  }
  function utcTime(iso) { return iso ? iso.slice(11, 19) + ' UTC' : '\u2013'; }
  function utcStamp(iso) { return iso.slice(0, 10) + ' ' + iso.slice(11, 16) + ' UTC'; }
  function sumReasons(rejected) { var n = 0; for (var k in rejected) n += rejected[k]; return n; }

  // ------------------------------------------------------------------------------------------ status

  function setPill(kind, text) {
    var p = $('state');
    p.className = 'pill ' + kind;
    p.textContent = text;
  }
  function showError(message) {
    var b = $('banner');
    if (message) { b.textContent = message; b.hidden = false; } else { b.hidden = true; b.textContent = ''; }
  }
  function showAuth(message) {
    state.waitingForToken = true;
    clearTimeout(state.timer);
    $('auth').hidden = false;
    $('view').hidden = true;
    $('forget').hidden = true;
    $('auth-error').hidden = !message;
    $('auth-error').textContent = message || '';
    setPill('paused', 'token needed');
    $('token').focus();
  }

  // ------------------------------------------------------------------------------------------ loading

  function schedule() {
    clearTimeout(state.timer);
    if (!state.waitingForToken) state.timer = setTimeout(load, state.refreshMs);
  }

  function load() {
    if (state.inFlight || state.waitingForToken) return;
    if (document.hidden) { setPill('paused', 'paused'); schedule(); return; }
    state.inFlight = true;
    var token = readToken();
    var headers = { accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    fetch('v1/live?limit=' + PAGE_SIZE + '&offset=' + state.offset, { headers: headers, cache: 'no-store', credentials: 'omit' })
      .then(function (res) {
        if (res.status === 401) {
          writeToken('');
          showAuth(token ? 'The server refused that token.' : '');
          return null;
        }
        return res.json().then(function (body) {
          if (!res.ok) throw new Error((body && body.error && body.error.message) || ('HTTP ' + res.status));
          return body;
        });
      })
      .then(function (data) {
        if (!data) return;
        state.last = data;
        state.refreshMs = Math.max(1, data.refreshSeconds || 3) * 1000;
        render(data);
        showError('');
        setPill('ok', 'live');
      })
      .catch(function (err) {
        setPill('error', 'stale');
        showError('Refresh failed: ' + (err && err.message ? err.message : String(err)) + '. Showing the last figures; retrying.');
      })
      .then(function () { state.inFlight = false; schedule(); });
  }

  // ------------------------------------------------------------------------------------------ rendering

  function render(data) {
    $('auth').hidden = true;
    $('view').hidden = false;
    $('forget').hidden = !readToken();
    $('switch').textContent = data.switchId;
    $('updated').textContent = utcTime(data.at);
    $('updated').setAttribute('datetime', data.at);
    document.title = 'callgate live \u00b7 ' + data.switchId;

    var s = data.series, refused = sumReasons(s.totals.rejected), attempts = s.totals.admitted + refused;
    var minutes = Math.round(s.windowSeconds / 60) + ' min';
    $('tile-live').textContent = whole.format(data.accounts.liveCalls);
    $('tile-accounts').textContent = whole.format(data.accounts.total);
    $('tile-admitted').textContent = whole.format(s.totals.admitted);
    $('tile-refused').textContent = whole.format(refused);
    $('tile-ratio').textContent = attempts === 0 ? '\u2013' : (100 * refused / attempts).toFixed(1) + '%';
    var hints = document.querySelectorAll('[data-window]');
    for (var i = 0; i < hints.length; i++) hints[i].textContent = 'last ' + minutes + ', this switch';

    drawCharts(data);
    renderTable(data);
  }

  function colorOf(key, i) { return COLORS[key] || FALLBACK_COLORS[i % FALLBACK_COLORS.length]; }

  function drawCharts(data) {
    var s = data.series;
    var admitted = [{ key: 'admitted', label: 'Admitted', color: COLORS.admitted, value: function (b) { return b.admitted; } }];
    var refusals = s.reasons.map(function (r, i) {
      return { key: r.reason, label: r.label, color: colorOf(r.reason, i), value: function (b) { return b.rejected[r.reason] || 0; } };
    });
    var at = Date.parse(data.at);
    drawStacked($('chart-admitted'), admitted, s, at, 'No INVITEs admitted in this window');
    drawStacked($('chart-refused'), refusals, s, at, 'No INVITEs refused in this window');
    legend($('legend-admitted'), admitted, [s.totals.admitted]);
    legend($('legend-refused'), refusals, refusals.map(function (x) { return s.totals.rejected[x.key] || 0; }));
    $('chart-unit').textContent = 'INVITEs per ' + s.bucketSeconds + ' s';
  }

  function legend(list, series, totals) {
    list.textContent = '';
    series.forEach(function (x, i) {
      var li = el('li', totals[i] === 0 ? 'zero' : '');
      li.setAttribute('data-series', x.key);
      var sw = el('span', 'swatch');
      sw.style.background = x.color;
      li.appendChild(sw);
      li.appendChild(el('span', 'label', x.label));
      li.appendChild(el('span', 'count', whole.format(totals[i])));
      list.appendChild(li);
    });
  }

  /** A whole step of 1, 2 or 5 times a power of ten, about a fifth of the largest value: gridlines at round numbers. */
  function niceStep(v) {
    var raw = Math.max(v, 4) / 5, p = Math.pow(10, Math.floor(Math.log10(raw))), steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) return Math.max(1, steps[i] * p);
    return Math.max(1, 10 * p);
  }

  /** Stacked step areas: each bucket's counts span its own time range; runs of adjacent buckets join. */
  function drawStacked(svg, series, s, at, emptyText) {
    var width = Math.max(320, Math.round(svg.getBoundingClientRect().width || 600));
    var height = 190, left = 40, right = 10, top = 10, bottom = 24;
    var plotW = width - left - right, plotH = height - top - bottom, windowMs = s.windowSeconds * 1000, from = at - windowMs;
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    svg.textContent = '';
    var buckets = s.buckets.map(function (b) {
      return { start: Math.max(from, Date.parse(b.start)), end: Math.min(at, Date.parse(b.end)), raw: b };
    }).filter(function (b) { return b.end > b.start; });
    var max = 0;
    buckets.forEach(function (b) {
      var sum = 0;
      series.forEach(function (x) { sum += x.value(b.raw); });
      if (sum > max) max = sum;
    });
    var step = niceStep(max), lines = Math.max(1, Math.ceil(Math.max(max, 4) / step)), yMax = lines * step;
    function x(t) { return left + ((t - from) / windowMs) * plotW; }
    function y(v) { return top + plotH - (v / yMax) * plotH; }

    for (var g = 0; g <= lines; g++) {
      var gv = g * step, gy = y(gv);
      svg.appendChild(svgEl('line', { class: 'grid', x1: left, x2: width - right, y1: gy, y2: gy }));
      var label = svgEl('text', { class: 'axis', x: left - 6, y: gy + 4, 'text-anchor': 'end' });
      label.textContent = whole.format(gv);
      svg.appendChild(label);
    }
    var stepMin = Math.max(1, Math.round(s.windowSeconds / 60 / 5));
    for (var m = 0; m * 60 <= s.windowSeconds; m += stepMin) {
      var tx = x(at - m * 60000);
      var tick = svgEl('text', { class: 'axis', x: tx, y: height - 6, 'text-anchor': m === 0 ? 'end' : 'middle' });
      tick.textContent = m === 0 ? 'now' : '\u2212' + m + ' min';
      svg.appendChild(tick);
    }

    // runs of buckets that touch: each becomes one closed path per series
    var runs = [];
    buckets.forEach(function (b) {
      var run = runs[runs.length - 1];
      if (run && b.start - run[run.length - 1].end <= 1000) run.push(b); else runs.push([b]);
    });
    var base = buckets.map(function () { return 0; });
    var drawn = 0;
    series.forEach(function (sr) {
      var d = '', idx = 0;
      runs.forEach(function (run) {
        var upper = [], lower = [];
        run.forEach(function (b, j) {
          var i = idx + j, v = sr.value(b.raw);
          upper.push([x(b.start), y(base[i] + v)], [x(b.end), y(base[i] + v)]);
          lower.push([x(b.start), y(base[i])], [x(b.end), y(base[i])]);
          base[i] += v;
        });
        idx += run.length;
        var pts = upper.concat(lower.reverse());
        var any = run.some(function (b) { return sr.value(b.raw) > 0; });
        if (!any) return;
        d += 'M' + pts.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join('L') + 'Z';
      });
      if (d) {
        svg.appendChild(svgEl('path', { class: 'area', d: d, fill: sr.color, 'fill-opacity': 0.85, stroke: sr.color, 'stroke-width': 1, 'data-series': sr.key }));
        drawn++;
      }
    });
    svg.appendChild(svgEl('line', { class: 'grid', x1: left, x2: width - right, y1: y(0), y2: y(0), stroke: '#cbd5e1' }));
    if (drawn === 0) {
      var note = svgEl('text', { class: 'empty', x: left + plotW / 2, y: top + plotH / 2, 'text-anchor': 'middle' });
      note.textContent = buckets.length === 0 ? 'Collecting: the first ' + s.bucketSeconds + ' s bucket is on its way' : emptyText;
      svg.appendChild(note);
    }
  }

  function cell(row, field, className) {
    var td = el('td', className);
    td.setAttribute('data-field', field);
    row.appendChild(td);
    return td;
  }

  function moneyCell(tr, field, micros, exactUsd) {
    var td = cell(tr, field, 'num');
    var v = el('span', micros < 0 ? 'neg' : '', money(micros));
    v.setAttribute('title', exactUsd + ' USD');
    td.appendChild(v);
    return td;
  }

  function renderTable(data) {
    var body = $('rows');
    body.textContent = '';
    var rows = data.accounts.rows, a = data.accounts;
    $('count').textContent = a.total === 0 ? 'no accounts'
      : 'showing ' + (rows.length === 0 ? 0 : a.offset + 1) + '\u2013' + (a.offset + rows.length) + ' of ' + whole.format(a.total) + ', most live calls first';
    $('prev').disabled = a.offset === 0;
    $('next').disabled = a.offset + rows.length >= a.total;
    $('pager').hidden = a.total <= a.limit && a.offset === 0;
    if (rows.length === 0) {
      var tr0 = el('tr'), td0 = el('td', 'empty', 'No accounts to show.');
      td0.colSpan = 9;
      tr0.appendChild(td0);
      body.appendChild(tr0);
      return;
    }
    rows.forEach(function (r) {
      var tr = el('tr');
      tr.setAttribute('data-account', r.accountId);

      var acct = cell(tr, 'account', 'acct');
      acct.appendChild(el('div', 'id', r.accountId));
      acct.appendChild(el('div', 'sub', (r.name ? r.name + ' \u00b7 ' : '') + r.type));

      var st = cell(tr, 'status');
      st.appendChild(el('span', 'badge ' + (r.status === 'on' ? 'on' : 'off'), r.status === 'on' ? 'ON' : 'OFF'));
      if (r.offReason) st.appendChild(el('div', 'sub', OFF_REASONS[r.offReason] || r.offReason));

      var here = cell(tr, 'channels-here', 'num');
      here.appendChild(el('span', '', r.channels.thisSwitch + ' / ' + r.channels.limitPerSwitch));
      var ratio = r.channels.limitPerSwitch > 0 ? Math.min(1, r.channels.thisSwitch / r.channels.limitPerSwitch) : 1;
      var meter = el('span', 'meter' + (ratio >= 1 ? ' full' : ratio >= 0.8 ? ' high' : ''));
      var fill = el('span');
      fill.style.width = Math.round(ratio * 100) + '%';
      meter.appendChild(fill);
      here.appendChild(meter);

      var total = cell(tr, 'channels-total', 'num');
      total.appendChild(el('span', '', String(r.channels.total)));
      var switches = Object.keys(r.channels.bySwitch).sort();
      if (switches.length > 0) {
        var parts = switches.map(function (k) { return k + ' ' + r.channels.bySwitch[k]; }).join(' \u00b7 ');
        total.appendChild(el('div', 'sub', parts));
      }

      cell(tr, 'cps', 'num').textContent = (Math.round(r.cps.recent * 10) / 10).toFixed(1) + ' / ' + r.cps.limit;
      moneyCell(tr, 'balance', r.balance, r.balanceUsd);
      moneyCell(tr, 'available', r.available, r.availableUsd);
      moneyCell(tr, 'burn', r.burn.perHour, r.burn.perHourUsd);

      var dep = cell(tr, 'depletion', 'num');
      if (r.depletion.secondsToDepletion === null) {
        dep.appendChild(el('span', 'muted', '\u2014'));
      } else {
        var secs = r.depletion.secondsToDepletion;
        dep.appendChild(el('span', secs < 3600 ? 'soon' : '', secs === 0 ? 'now' : 'in ' + span(secs)));
        dep.appendChild(el('div', 'sub', utcStamp(r.depletion.depletesAt)));
      }
      body.appendChild(tr);
    });
  }

  // ------------------------------------------------------------------------------------------ wiring

  $('auth-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var t = $('token').value.trim();
    if (!t) return;
    writeToken(t);
    $('token').value = '';
    state.waitingForToken = false;
    $('auth').hidden = true;
    setPill('', 'loading');
    load();
  });
  $('forget').addEventListener('click', function () { writeToken(''); state.last = null; showAuth(''); });
  $('prev').addEventListener('click', function () { state.offset = Math.max(0, state.offset - PAGE_SIZE); clearTimeout(state.timer); load(); });
  $('next').addEventListener('click', function () { state.offset += PAGE_SIZE; clearTimeout(state.timer); load(); });
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { clearTimeout(state.timer); load(); } });
  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (state.last && !$('view').hidden) drawCharts(state.last); }, 100);
  });
  load();
})();
`;

const BODY = String.raw`
<header class="top">
  <div class="brand"><span class="dot"></span>callgate <span class="sub">live view</span></div>
  <div class="meta">
    <span>switch <b id="switch" class="mono">&ndash;</b></span>
    <span>updated <b><time id="updated">&ndash;</time></b></span>
    <span id="state" class="pill">loading</span>
    <button id="forget" class="ghost" type="button" hidden>Forget token</button>
  </div>
</header>
<main>
  <div id="banner" class="banner" role="alert" hidden></div>
  <section id="auth" class="card auth" hidden>
    <h1>Admin token</h1>
    <p>The live view reads the admin API, which needs its bearer token (<span class="mono">admin.token</span>).
       It stays in this browser tab only (sessionStorage) and is sent to this server alone.</p>
    <form id="auth-form" autocomplete="off">
      <input id="token" type="password" name="token" placeholder="admin token" aria-label="admin token" autocomplete="off" spellcheck="false">
      <button type="submit">Open</button>
    </form>
    <p id="auth-error" class="error" role="alert" hidden></p>
  </section>
  <section id="view" hidden>
    <div class="tiles">
      <div class="card tile"><div class="label">Live calls</div><div class="value" id="tile-live">&ndash;</div><div class="hint">all accounts, all switches</div></div>
      <div class="card tile"><div class="label">Accounts</div><div class="value" id="tile-accounts">&ndash;</div><div class="hint">in the catalog</div></div>
      <div class="card tile"><div class="label">Admitted</div><div class="value" id="tile-admitted">&ndash;</div><div class="hint" data-window></div></div>
      <div class="card tile"><div class="label">Refused</div><div class="value" id="tile-refused">&ndash;</div><div class="hint" data-window></div></div>
      <div class="card tile"><div class="label">Refusal rate</div><div class="value" id="tile-ratio">&ndash;</div><div class="hint" data-window></div></div>
    </div>
    <div class="charts">
      <figure class="card chart">
        <figcaption>Admitted <span class="muted" id="chart-unit"></span></figcaption>
        <svg id="chart-admitted" role="img" aria-label="INVITEs admitted over time"></svg>
        <ul class="legend" id="legend-admitted"></ul>
      </figure>
      <figure class="card chart">
        <figcaption>Refused, by reason <span class="muted">stacked</span></figcaption>
        <svg id="chart-refused" role="img" aria-label="INVITEs refused over time, by reason"></svg>
        <ul class="legend" id="legend-refused"></ul>
      </figure>
    </div>
    <section class="card table-card">
      <div class="table-head">
        <h2>Accounts</h2><span class="muted" id="count"></span>
        <div class="pager" id="pager" hidden><button id="prev" type="button">&larr; Previous</button><button id="next" type="button">Next &rarr;</button></div>
      </div>
      <div class="table-wrap">
        <table id="accounts">
          <thead><tr>
            <th>Account</th><th>Status</th><th class="num">Channels, this switch</th><th class="num">Live calls, all switches</th>
            <th class="num">CPS recent / limit</th><th class="num">Balance</th><th class="num">Available</th>
            <th class="num">Burn / hour</th><th class="num">Estimated depletion</th>
          </tr></thead>
          <tbody id="rows"></tbody>
        </table>
      </div>
    </section>
    <footer>Account figures are read from Redis on every refresh and are the same as GET /v1/accounts/:id/usage.
      Admits and refusals are this switch's own INVITEs (callgate_invites_total), in buckets of 10 s.</footer>
  </section>
</main>
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export const livePage = {
  html:
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    '<meta name="referrer" content="no-referrer">\n' +
    '<link rel="icon" href="data:,">\n' +
    '<title>callgate live</title>\n' +
    `<style>${STYLE}</style>\n</head>\n<body>${BODY}<script>${SCRIPT}</script>\n</body>\n</html>\n`,
  /** Only this page's own script and style run, and they may only talk to this origin. */
  contentSecurityPolicy: [
    "default-src 'none'",
    `script-src ${hash(SCRIPT)}`,
    `style-src ${hash(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
};
