/**
 * The live view in a real browser: Debian's chromium (or CHROMIUM_BIN), driven headless by playwright-core
 * (which downloads no browser). An admin server runs over real HTTP against a real Redis with a handful of
 * accounts and live calls, and ten minutes of admits and refusals fed through callgate_invites_total on an
 * injected clock. The page is loaded, given the token the way an engineer gives it (the form), and every
 * figure it shows is checked against GET /v1/live's JSON for the same accounts. A screenshot is saved to
 * test-output/browser/live-view.png.
 *
 * Without a chromium executable the suite skips, with a banner saying so.
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { createPrng } from '../helpers/prng.js';
import { freshSourceIps } from '../helpers/fixtures.js';
import { createAccountService, type AccountInput, type AccountService } from '../../src/accounts/index.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { createEngine, type Engine } from '../../src/redis/engine.js';
import type { AdmittedSeed } from '../../src/model/index.js';
import type { RejectReason } from '../../src/config/schema.js';
import { startTestAdmin } from '../helpers/admin-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUTPUT_DIR = join(ROOT, 'test-output', 'browser');
const SCREENSHOT = join(OUTPUT_DIR, 'live-view.png');
const TOKEN = 'browser-live-view-token-0c4f9e21';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function findChromium(): { path: string | undefined; why: string } {
  const wanted = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
  try {
    if (!statSync(wanted).isFile()) return { path: undefined, why: `${wanted} is not a file` };
    accessSync(wanted, constants.X_OK);
    return { path: wanted, why: '' };
  } catch {
    return {
      path: undefined,
      why: process.env.CHROMIUM_BIN ? `CHROMIUM_BIN=${wanted} is not an executable file` : `no chromium at ${wanted} (CHROMIUM_BIN is unset)`,
    };
  }
}

const browserBin = findChromium();

function skipBanner(suite: string): string {
  const line = '!'.repeat(100);
  return [
    '',
    line,
    `!!  BROWSER TESTS SKIPPED: ${suite}`,
    `!!  ${browserBin.why}`,
    '!!  The live view page (GET /live) was NOT loaded in a browser; only its JSON route was tested.',
    '!!  To run them: apt-get install -y chromium (Debian: /usr/bin/chromium), or set CHROMIUM_BIN=/path/to/chromium.',
    '!!  playwright-core drives it and downloads no browser. Then: npx vitest run test/browser',
    line,
    '',
  ].join('\n');
}

function describeBrowser(name: string, body: () => void): void {
  if (!browserBin.path) console.warn(skipBanner(name));
  describe.skipIf(!browserBin.path)(name, body);
}

const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n1,0.01,6,6,\n44,0.02,60,60,0.05\n';
const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat('en-US');
const OFF_REASON_TEXT: Record<string, string> = { depleted: 'depleted', credit_limit: 'credit limit', manual: 'manual' };

interface LiveRow {
  accountId: string;
  status: 'on' | 'off';
  offReason: string | null;
  balance: number;
  balanceUsd: string;
  available: number;
  availableUsd: string;
  channels: { limitPerSwitch: number; total: number; thisSwitch: number; bySwitch: Record<string, number> };
  cps: { limit: number; recent: number };
  burn: { perHour: number; perHourUsd: string };
  depletion: { secondsToDepletion: number | null; depletesAt: string | null };
}

interface LiveBody {
  switchId: string;
  at: string;
  accounts: { total: number; liveCalls: number; rows: LiveRow[] };
  series: {
    reasons: { reason: RejectReason; label: string }[];
    totals: { admitted: number; rejected: Record<RejectReason, number> };
    buckets: unknown[];
  };
}

/** What the page shows for one account, read from its table row. */
interface PageRow {
  accountId: string;
  badge: string;
  offReason: string;
  channelsHere: string;
  channelsTotal: string;
  cps: string;
  balance: string;
  balanceTitle: string;
  available: string;
  availableTitle: string;
  burn: string;
}

function staticCdr(accountId: string, invitedAt: number): AdmittedSeed {
  return {
    sipCallId: `sip-${accountId}-${invitedAt}-${Math.random().toString(36).slice(2, 8)}`, accountId, from: '15551230000',
    to: '442071234567', srcIp: '192.0.2.10', invitedAt, prefix: '44', ratePerMin: 20_000, connectFee: 50_000,
    firstIncrement: 60, nextIncrement: 60, taxExempt: false,
  };
}

describeBrowser('live view in headless chromium', () => {
  let c: TestContext;
  let server: FastifyInstance;
  let baseUrl = '';
  let svc: AccountService;
  let metrics: Metrics;
  let browser: BrowserContext;
  let userDataDir = '';
  // ten minutes of history end "now": the clock starts ten minutes back and is moved by each sample
  let clock = Date.now() - 600_000;

  const getLive = async (): Promise<LiveBody> => {
    const res = await fetch(`${baseUrl}/v1/live`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as LiveBody;
  };

  beforeAll(async () => {
    c = await createTestContext('single');
    svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', DECK_CSV);
    metrics = createMetrics();
    ({ server, url: baseUrl } = await startTestAdmin(c, TOKEN, { metrics, now: () => clock })); // takes the series' baseline at `clock`

    // ten minutes of traffic on this instance, one 10 s bucket at a time
    const prng = createPrng(20_240_611);
    const inc = (outcome: string, reason: string, n: number) => {
      if (n > 0) metrics.invites.labels(outcome, reason).inc(n);
    };
    for (let i = 0; i < 60; i++) {
      const r = prng.next;
      inc('admitted', 'none', Math.round(26 + 10 * Math.sin(i / 6) + r() * 6));
      inc('rejected', 'cps_exceeded', i >= 30 && i <= 38 ? Math.round(6 + r() * 10) : r() < 0.2 ? 1 : 0);
      inc('rejected', 'channel_limit', i >= 42 ? Math.round(r() * 4) : 0);
      inc('rejected', 'insufficient_funds', r() < 0.3 ? 1 : 0);
      inc('rejected', 'off_funds', i >= 50 ? Math.round(r() * 2) : 0);
      inc('rejected', 'off_manual', i % 7 === 0 ? 1 : 0);
      inc('rejected', 'unknown_account', r() < 0.15 ? 1 : 0);
      inc('rejected', 'no_rate', r() < 0.1 ? 1 : 0);
      clock += 10_000;
      await server.liveView.sample();
    }

    // accounts and their live calls, invited in the last few seconds of that history
    const other = createEngine({ redis: c.conn.redis, keys: c.keys, switchId: 'sw-east-2', leaseTtlMs: c.config.billing.leaseTtlMs });
    // fresh addresses on every spread: accounts may not share an address (see freshSourceIps)
    const base: AccountInput = {
      type: 'prepaid', channels: 30, cps: '10', burst: '60', billingCountry: 'US', deckId: 'std',
      get ips() {
        return freshSourceIps();
      },
    };
    const put = async (id: string, over: AccountInput, funds?: string) => {
      await svc.putAccount(id, { ...base, ...over }, { mode: 'create' });
      if (funds) await svc.applyFunds(id, funds, `seed-${id}`);
    };
    await put('acme-wholesale', { name: 'ACME Wholesale' }, '1250');
    await put('globex-voice', { name: 'Globex Voice', type: 'postpaid', creditLimit: '5000', channels: 20, cps: '5', burst: '30' });
    await put('hooli-carrier', { name: 'Hooli Carrier', channels: 10 }, '400');
    await put('umbrella-telco', { name: 'Umbrella Telco', channels: 5 }, '3');
    await put('initech-intl', { name: 'Initech International' }, '80');
    await svc.setStatus('initech-intl', 'off', 'MSA review: short calls');
    await put('vandelay-imports', { name: 'Vandelay Imports', channels: 4 });

    const admit = async (engine: Engine, accountId: string, n: number, commit = 0) => {
      for (let k = 0; k < n; k++) {
        const callId = `${accountId}-${engine === other ? 'e' : 'w'}-${k}`;
        const r = await engine.admitCall({ accountId, callId, reservation: 60_000, seed: JSON.stringify(staticCdr(accountId, clock - 500 * (k + 1))) });
        expect(r.outcome, `${accountId} call ${k}`).toBe('admitted');
        if (commit > 0) {
          const t = await engine.tickCall({
            accountId, callId, total: commit, cost: commit, tax: 0, billedSec: 60, talkMs: 60_000, answeredAt: clock - 60_000, nextReservation: 20_000,
          });
          expect(t.outcome).toBe('reserved');
        }
      }
    };
    await admit(c.engine, 'acme-wholesale', 14, 90_000);
    await admit(other, 'acme-wholesale', 5, 70_000);
    await admit(c.engine, 'globex-voice', 6, 250_000);
    await admit(c.engine, 'hooli-carrier', 10, 30_000);
    await admit(c.engine, 'umbrella-telco', 2, 600_000);

    userDataDir = mkdtempSync(join(tmpdir(), 'callgate-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: browserBin.path!,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await c?.conn.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  async function openLive(): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (m) => {
      // the first read before the token is typed is a 401 by design; anything else (a CSP refusal, a script error) is a bug
      if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    const res = await page.goto(`${baseUrl}/live`);
    expect(res?.status()).toBe(200);
    return { page, problems };
  }

  async function readRows(page: Page): Promise<PageRow[]> {
    return page.$$eval('#rows tr[data-account]', (trs) =>
      trs.map((tr) => {
        const q = (field: string, sel = '') => tr.querySelector(`td[data-field="${field}"] ${sel}`.trim());
        const t = (field: string, sel = '') => (q(field, sel)?.textContent ?? '').trim();
        return {
          accountId: tr.getAttribute('data-account') ?? '',
          badge: t('status', '.badge'),
          offReason: t('status', '.sub'),
          channelsHere: t('channels-here', 'span'),
          channelsTotal: t('channels-total', 'span'),
          cps: t('cps'),
          balance: t('balance', 'span'),
          balanceTitle: q('balance', 'span')?.getAttribute('title') ?? '',
          available: t('available', 'span'),
          availableTitle: q('available', 'span')?.getAttribute('title') ?? '',
          burn: t('burn', 'span'),
        };
      }),
    );
  }

  it('asks for the token, then shows the figures of GET /v1/live, the charts and the legend', async () => {
    const { page, problems } = await openLive();
    // the page holds no data until it has the token
    await page.locator('#token').waitFor({ state: 'visible' });
    expect(await page.locator('#rows tr').count()).toBe(0);
    await page.fill('#token', TOKEN);
    await page.click('#auth-form button[type=submit]');
    await page.locator('#rows tr[data-account]').first().waitFor({ state: 'visible' });
    expect(await page.evaluate("sessionStorage.getItem('callgate.adminToken')")).toBe(TOKEN);

    const api = await getLive();
    expect(await page.textContent('#switch')).toBe(api.switchId);
    expect(await page.textContent('#updated')).toBe(`${api.at.slice(11, 19)} UTC`);
    expect(await page.textContent('#tile-live')).toBe(whole.format(api.accounts.liveCalls));
    expect(api.accounts.liveCalls).toBe(37);
    expect(await page.textContent('#tile-admitted')).toBe(whole.format(api.series.totals.admitted));
    const refused = Object.values(api.series.totals.rejected).reduce((a, b) => a + b, 0);
    expect(await page.textContent('#tile-refused')).toBe(whole.format(refused));

    const shown = await readRows(page);
    expect(shown.map((r) => r.accountId)).toEqual(api.accounts.rows.map((r) => r.accountId));
    expect(shown.map((r) => r.accountId).slice(0, 4)).toEqual(['acme-wholesale', 'hooli-carrier', 'globex-voice', 'umbrella-telco']);
    for (const want of api.accounts.rows) {
      const got = shown.find((r) => r.accountId === want.accountId)!;
      expect(got, want.accountId).toMatchObject({
        badge: want.status === 'on' ? 'ON' : 'OFF',
        offReason: want.offReason === null ? '' : OFF_REASON_TEXT[want.offReason],
        channelsHere: `${want.channels.thisSwitch} / ${want.channels.limitPerSwitch}`,
        channelsTotal: String(want.channels.total),
        cps: `${want.cps.recent.toFixed(1)} / ${want.cps.limit}`,
        balance: usd.format(want.balance / 1e6),
        balanceTitle: `${want.balanceUsd} USD`,
        available: usd.format(want.available / 1e6),
        availableTitle: `${want.availableUsd} USD`,
        burn: usd.format(want.burn.perHour / 1e6),
      });
    }
    const acme = api.accounts.rows.find((r) => r.accountId === 'acme-wholesale')!;
    expect(acme.channels).toMatchObject({ total: 19, thisSwitch: 14, bySwitch: { 'sw-east-2': 5 } });
    expect(api.accounts.rows.find((r) => r.accountId === 'initech-intl')).toMatchObject({ status: 'off', offReason: 'manual' });

    // the charts: stacked SVG areas, one per series that had traffic, and a legend of every refusal reason
    const admittedAreas = await page.$$eval('#chart-admitted path.area', (ps) => ps.map((p) => p.getAttribute('d') ?? ''));
    expect(admittedAreas).toHaveLength(1);
    expect(admittedAreas[0]!.length).toBeGreaterThan(100);
    const refusedSeries = await page.$$eval('#chart-refused path.area', (ps) => ps.map((p) => p.getAttribute('data-series')));
    const withTraffic = api.series.reasons.filter((r) => api.series.totals.rejected[r.reason] > 0).map((r) => r.reason);
    expect(refusedSeries.sort()).toEqual([...withTraffic].sort());
    expect(withTraffic.length).toBeGreaterThanOrEqual(6);
    const legend = await page.$$eval('#legend-refused li', (lis) =>
      lis.map((li) => ({ series: li.getAttribute('data-series'), label: li.querySelector('.label')?.textContent, count: li.querySelector('.count')?.textContent })),
    );
    expect(legend).toEqual(
      api.series.reasons.map((r) => ({ series: r.reason, label: r.label, count: whole.format(api.series.totals.rejected[r.reason]) })),
    );
    // the chart really painted: its box has size and its areas are not empty boxes
    const box = await page.locator('#chart-refused').boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(box!.height).toBeGreaterThan(100);

    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(20_000);
    console.log(`live view screenshot: ${SCREENSHOT}`);

    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('refreshes on its own: a payment shows up within a few seconds', async () => {
    const { page, problems } = await openLive();
    await page.fill('#token', TOKEN);
    await page.click('#auth-form button[type=submit]');
    const cellOf = page.locator('tr[data-account="vandelay-imports"] td[data-field="balance"] span');
    await cellOf.waitFor({ state: 'visible' });
    expect((await cellOf.textContent())?.trim()).toBe(usd.format(0));
    await svc.applyFunds('vandelay-imports', '42.50', 'late-payment');
    // polled from here: the page's CSP (no 'unsafe-eval') refuses waitForFunction's string predicates, as it should
    await expect.poll(async () => (await cellOf.textContent())?.trim(), { timeout: 10_000, interval: 250 }).toBe('$42.50');
    const api = await getLive();
    expect(api.accounts.rows.find((r) => r.accountId === 'vandelay-imports')).toMatchObject({ balance: 42_500_000, status: 'on' });
    expect(problems).toEqual([]);
    await page.close();
  }, 30_000);

  it('refuses a wrong token with a message, and keeps no data on the page', async () => {
    const { page } = await openLive();
    await page.fill('#token', 'not-the-token');
    await page.click('#auth-form button[type=submit]');
    await page.locator('#auth-error').waitFor({ state: 'visible' });
    expect(await page.textContent('#auth-error')).toContain('refused');
    expect(await page.evaluate("sessionStorage.getItem('callgate.adminToken')")).toBeNull();
    expect(await page.locator('#view').isHidden()).toBe(true);
    expect(await page.locator('#rows tr').count()).toBe(0);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: join(OUTPUT_DIR, 'live-view-token.png') });
    await page.close();
  }, 30_000);
});
