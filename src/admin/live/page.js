// @ts-check
/**
 * The live view's script. It is inlined into page.html as served, under a CSP hash of its exact text, so it
 * must stand alone: no imports, no modules, nothing fetched but GET /v1/live. The types below are for the
 * checker only (JSDoc), so the file runs in the browser as written.
 *
 * @typedef {{ start: string, end: string, admitted: number, rejected: Record<string, number> }} InviteBucket
 * @typedef {{
 *   bucketSeconds: number, windowSeconds: number, reasons: Array<{ reason: string, label: string }>,
 *   totals: { admitted: number, rejected: Record<string, number> }, buckets: InviteBucket[]
 * }} InviteSeries
 * @typedef {{ secondsToDepletion: null, depletesAt: null } | { secondsToDepletion: number, depletesAt: string }} Depletion
 * @typedef {{
 *   accountId: string, name: string, type: string, status: string, offReason: string | null,
 *   balance: number, balanceUsd: string, available: number, availableUsd: string,
 *   channels: { limitPerSwitch: number, total: number, thisSwitch: number, bySwitch: Record<string, number> },
 *   cps: { limit: number, recent: number }, burn: { perHour: number, perHourUsd: string }, depletion: Depletion,
 *   traffic?: TrafficSummary
 * }} AccountRow
 * @typedef {{
 *   window: string, attempts: number, answered: number, asrPercent: number | null, acdSeconds: number | null,
 *   shortCallPercent: number | null, suspensionRecommended: boolean
 * }} TrafficSummary
 * @typedef {{
 *   switchId: string, at: string, refreshSeconds: number, series: InviteSeries,
 *   accounts: { total: number, liveCalls: number, offset: number, limit: number, rows: AccountRow[] }
 * }} LiveData
 * @typedef {{ error?: { message?: string } }} ApiError
 * @typedef {{ key: string, label: string, color: string, value: (bucket: InviteBucket) => number }} ChartLayer
 * @typedef {{ start: number, end: number, raw: InviteBucket }} PlacedBucket
 * @typedef {{
 *   switch: HTMLElement, updated: HTMLTimeElement, state: HTMLElement, forget: HTMLButtonElement, banner: HTMLElement,
 *   auth: HTMLElement, 'auth-form': HTMLFormElement, token: HTMLInputElement, 'auth-error': HTMLElement, view: HTMLElement,
 *   'tile-live': HTMLElement, 'tile-accounts': HTMLElement, 'tile-admitted': HTMLElement, 'tile-refused': HTMLElement,
 *   'tile-ratio': HTMLElement, 'chart-unit': HTMLElement, 'chart-admitted': SVGSVGElement, 'chart-refused': SVGSVGElement,
 *   'legend-admitted': HTMLUListElement, 'legend-refused': HTMLUListElement, count: HTMLElement, pager: HTMLElement,
 *   prev: HTMLButtonElement, next: HTMLButtonElement, rows: HTMLTableSectionElement
 * }} PageElements
 */
(function () {
  'use strict';
  var TOKEN_KEY = 'callgate.adminToken';
  var PAGE_SIZE = 200;
  /** @type {'http://www.w3.org/2000/svg'} */
  var SVG_NS = 'http://www.w3.org/2000/svg';
  /** @type {Record<string, string>} */
  var COLORS = {
    admitted: '#16a34a', unknown_account: '#7c3aed', no_rate: '#db2777', off_manual: '#475569', off_funds: '#ea580c',
    insufficient_funds: '#eab308', cps_exceeded: '#2563eb', channel_limit: '#0891b2', unavailable: '#dc2626'
  };
  var FALLBACK_COLORS = ['#9333ea', '#0d9488', '#4f46e5', '#be123c'];
  /** @type {Record<string, string>} */
  var OFF_REASONS = { depleted: 'depleted', credit_limit: 'credit limit', manual: 'manual', msa_violation: 'MSA violation' };
  var usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var whole = new Intl.NumberFormat('en-US');
  /** @type {{ offset: number, timer: number, inFlight: boolean, last: LiveData | null, refreshMs: number, waitingForToken: boolean }} */
  var state = { offset: 0, timer: 0, inFlight: false, last: null, refreshMs: 3000, waitingForToken: false };

  /**
   * Every id in PageElements is in page.html, so the lookup cannot miss.
   * @template {keyof PageElements} K
   * @param {K} id
   * @returns {PageElements[K]}
   */
  function $(id) { return /** @type {PageElements[K]} */ (document.getElementById(id)); }
  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {string} [className]
   * @param {string | number | null} [text]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  /**
   * @param {string} tag
   * @param {Record<string, string | number>} attrs
   */
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function readToken() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
  /** @param {string} t */
  function writeToken(t) {
    try { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ }
  }

  /** @param {number} micros */
  function money(micros) { return usd.format(micros / 1e6); }
  /** @param {number} seconds */
  function span(seconds) {
    if (seconds < 60) return seconds + 's';
    var m = Math.floor(seconds / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d > 0) return d + 'd ' + (h % 24) + 'h';
    if (h > 0) return h + 'h ' + (m % 60) + 'm';
    return m + 'm';
  }
  /** @param {string} iso */
  function utcTime(iso) { return iso ? iso.slice(11, 19) + ' UTC' : '\u2013'; }
  /** @param {string} iso */
  function utcStamp(iso) { return iso.slice(0, 10) + ' ' + iso.slice(11, 16) + ' UTC'; }
  /** @param {Record<string, number>} rejected */
  function sumReasons(rejected) { var n = 0; for (var k in rejected) n += rejected[k]; return n; }

  // ------------------------------------------------------------------------------------------ status

  /**
   * @param {string} kind
   * @param {string} text
   */
  function setPill(kind, text) {
    var p = $('state');
    p.className = 'pill ' + kind;
    p.textContent = text;
  }
  /** @param {string} message */
  function showError(message) {
    var b = $('banner');
    if (message) { b.textContent = message; b.hidden = false; } else { b.hidden = true; b.textContent = ''; }
  }
  /** @param {string} message */
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
    /** @type {Record<string, string>} */
    var headers = { accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    fetch('v1/live?limit=' + PAGE_SIZE + '&offset=' + state.offset, { headers: headers, cache: 'no-store', credentials: 'omit' })
      .then(function (res) {
        if (res.status === 401) {
          writeToken('');
          showAuth(token ? 'The server refused that token.' : '');
          return null;
        }
        return res.json().then(/** @param {ApiError} body */ function (body) {
          if (!res.ok) throw new Error((body && body.error && body.error.message) || ('HTTP ' + res.status));
          return /** @type {LiveData} */ (body);
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
      .catch(/** @param {Error | null | undefined} err */ function (err) {
        setPill('error', 'stale');
        showError('Refresh failed: ' + (err && err.message ? err.message : String(err)) + '. Showing the last figures; retrying.');
      })
      .then(function () { state.inFlight = false; schedule(); });
  }

  // ------------------------------------------------------------------------------------------ rendering

  /** @param {LiveData} data */
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

  /**
   * @param {string} key
   * @param {number} i
   */
  function colorOf(key, i) { return COLORS[key] || FALLBACK_COLORS[i % FALLBACK_COLORS.length]; }

  /** @param {LiveData} data */
  function drawCharts(data) {
    var s = data.series;
    /** @type {ChartLayer[]} */
    var admitted = [{ key: 'admitted', label: 'Admitted', color: COLORS.admitted, value: function (b) { return b.admitted; } }];
    /** @type {ChartLayer[]} */
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

  /**
   * @param {HTMLUListElement} list
   * @param {ChartLayer[]} series
   * @param {number[]} totals
   */
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
  /** @param {number} v */
  function niceStep(v) {
    var raw = Math.max(v, 4) / 5, p = Math.pow(10, Math.floor(Math.log10(raw))), steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) return Math.max(1, steps[i] * p);
    return Math.max(1, 10 * p);
  }

  /** Stacked step areas: each bucket's counts span its own time range; runs of adjacent buckets join. */
  /**
   * @param {SVGSVGElement} svg
   * @param {ChartLayer[]} series
   * @param {InviteSeries} s
   * @param {number} at epoch ms of the data, the right edge of the plot
   * @param {string} emptyText
   */
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
    /** @param {number} t */
    function x(t) { return left + ((t - from) / windowMs) * plotW; }
    /** @param {number} v */
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
    /** @type {PlacedBucket[][]} */
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
        /** @type {Array<[number, number]>} */
        var upper = [];
        /** @type {Array<[number, number]>} */
        var lower = [];
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

  /**
   * @param {HTMLTableRowElement} row
   * @param {string} field
   * @param {string} [className]
   */
  function cell(row, field, className) {
    var td = el('td', className);
    td.setAttribute('data-field', field);
    row.appendChild(td);
    return td;
  }

  /**
   * @param {HTMLTableRowElement} tr
   * @param {string} field
   * @param {number} micros
   * @param {string} exactUsd
   */
  function moneyCell(tr, field, micros, exactUsd) {
    var td = cell(tr, field, 'num');
    var v = el('span', micros < 0 ? 'neg' : '', money(micros));
    v.setAttribute('title', exactUsd + ' USD');
    td.appendChild(v);
    return td;
  }

  /** @param {LiveData} data */
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
      if (r.traffic && r.traffic.suspensionRecommended) st.appendChild(el('div', 'badge off recommended', 'suspension recommended'));

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
      var t = r.traffic || null;
      /** @param {number | null} v */
      var pct = function (v) { return v === null ? '\u2014' : v.toFixed(1) + '%'; };
      var asr = cell(tr, 'asr', 'num');
      asr.appendChild(el('span', '', t ? pct(t.asrPercent) : '\u2014'));
      if (t) asr.appendChild(el('div', 'sub', t.answered + ' / ' + t.attempts));
      cell(tr, 'acd', 'num').textContent = t && t.acdSeconds !== null ? t.acdSeconds.toFixed(1) + ' s' : '\u2014';
      cell(tr, 'short', 'num').textContent = t ? pct(t.shortCallPercent) : '\u2014';
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
