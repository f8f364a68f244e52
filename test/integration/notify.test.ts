import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { describeOnRedis, type TestContext } from '../helpers/context.js';
import { waitFor } from '../helpers/wait.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import type { NotifyConfig, WebhookConfig } from '../../src/config/schema.js';
import { createRootLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import type { AccountLimits } from '../../src/redis/codecs/account-hash.js';
import {
  createDispatcher,
  deadLetterKey,
  deliveriesKey,
  NOTIFY_GROUP,
  verifySignature,
  type Dispatcher,
} from '../../src/notify/dispatcher.js';

let seq = 0;
const uniq = (p: string) => `${p}${++seq}${Math.random().toString(36).slice(2, 8)}`;
const logger = createRootLogger({ logLevel: 'silent', switchId: 'test' });
const SECRET = 'test-secret-0123456789';

const limits: AccountLimits = { type: 'prepaid', creditLimit: 0, channels: 10, cps: 1000, burst: 1000, lowBalanceThreshold: 0 };

interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number | 'hang';
}

type Answer = number | 'hang' | { status: number; delayMs: number };
type Respond = (r: { path: string; headers: IncomingHttpHeaders; body: string }) => Answer;

/** A local webhook receiver: records every POST and answers what `respond` says ('hang' never answers). */
async function startReceiver(initial: Respond = () => 200) {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const state = { respond: initial };
  const server = createServer((req, res) => {
    const at = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      const answer = state.respond({ path, headers: req.headers, body });
      const status = typeof answer === 'object' ? answer.status : answer;
      received.push({ at, path, headers: req.headers, body, status });
      if (status === 'hang') hanging.add(res);
      else if (typeof answer === 'object') {
        hanging.add(res);
        setTimeout(() => {
          hanging.delete(res);
          res.writeHead(status).end();
        }, answer.delayMs);
      } else res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    received,
    state,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    /**
     * Requests answered 2xx, as `<account>/<delivery id>`: a stream entry id is unique within its account's
     * stream only, and two accounts' events often share one.
     */
    deliveredIds: (path?: string) =>
      received
        .filter((r) => r.status === 200 && (!path || r.path === path))
        .map((r) => `${(JSON.parse(r.body) as { account: string }).account}/${String(r.headers['x-callgate-delivery'])}`),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await waitFor(what, async () => await cond(), { timeoutMs, intervalMs: 20 });
}

describeOnRedis('webhook dispatcher', (ctx) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function receiver(respond?: Respond): Promise<Receiver> {
    const r = await startReceiver(respond);
    cleanups.push(() => r.close());
    return r;
  }

  const hook = (r: Receiver, id: string, extra: Partial<WebhookConfig> = {}): WebhookConfig => ({ id, url: r.url(`/${id}`), secret: SECRET, ...extra });

  function dispatcher(
    accounts: string[],
    config: Partial<NotifyConfig> & { webhooks: WebhookConfig[] },
    consumerId = 'sw1',
    metrics?: Metrics,
  ): Dispatcher {
    const c = ctx();
    const d = createDispatcher({
      redis: c.conn.redis,
      keys: c.keys,
      config: { ...c.config.notify, backoffMs: 10, maxBackoffMs: 50, timeoutMs: 2_000, minTimeMs: 0, ...config },
      logger,
      metrics,
      accountIds: () => accounts,
      consumerId,
    });
    cleanups.push(() => d.stop());
    return d;
  }

  /** An account whose history raises three events: status_changed (ON by a payment), low_balance, status_changed (manual OFF). */
  async function accountWithEvents(c: TestContext): Promise<string> {
    const id = uniq('n');
    await c.engine.putAccount(id, { ...limits, lowBalanceThreshold: 5_000_000 });
    await c.engine.applyFunds(id, uniq('pay'), 10_000_000, 0);
    const callId = uniq('call');
    const admitted = await c.engine.admitCall({ accountId: id, callId, reservation: 1_000, seed: '{}' });
    expect(admitted.outcome).toBe('admitted');
    await c.engine.finalizeCall({
      accountId: id, callId, total: 6_000_000, cost: 6_000_000, tax: 0, billedSec: 600, talkMs: 600_000, answeredAt: 1, endedAt: Date.now(),
      disposition: 'answered', reason: 'normal_clearing', sipCode: 200,
    });
    await c.engine.setStatus(id, 'off', 'MSA violation');
    return id;
  }

  /** An account with funds whose status is toggled n times: n status_changed events (after the first ON). */
  async function toggledAccount(c: TestContext, n: number): Promise<string> {
    const id = uniq('t');
    await c.engine.putAccount(id, limits);
    await c.engine.applyFunds(id, uniq('pay'), 10_000_000, 0);
    for (let i = 0; i < n; i++) await c.engine.setStatus(id, i % 2 === 0 ? 'off' : 'on');
    return id;
  }

  /** The account's pending events, as `<account>/<entry id>` like Receiver.deliveredIds(). */
  const eventIds = async (c: TestContext, id: string) => (await c.conn.redis.xRange(c.keys.events(id), '-', '+')).map((e) => `${id}/${e.id}`);

  async function expectOutboxEmpty(c: TestContext, ids: string[]): Promise<void> {
    for (const id of ids) {
      expect(await c.conn.redis.xLen(c.keys.events(id))).toBe(0);
      expect(await c.conn.redis.exists(deliveriesKey(c.keys, id))).toBe(0);
      expect((await c.conn.redis.xPendingRange(c.keys.events(id), NOTIFY_GROUP, '-', '+', 10)).length).toBe(0);
    }
  }

  it('POSTs each event once, woken by the event message, with a body and signature that verify', async () => {
    const c = ctx();
    const r = await receiver();
    const accounts: string[] = [];
    // the scan never runs during the test: only the `event|<id>` message can wake the dispatcher
    const d = dispatcher(accounts, { webhooks: [hook(r, 'all'), hook(r, 'low', { events: ['low_balance'] })], scanIntervalMs: 3_600_000 });
    await d.start();
    const id = await accountWithEvents(c);
    await until('4 deliveries', () => r.received.length >= 4);
    await sleep(300); // a window, not a wait: nothing more arrives
    expect(r.received).toHaveLength(4);

    const all = r.received.filter((x) => x.path === '/all');
    expect(all).toHaveLength(3);
    expect(new Set(all.map((x) => x.headers['x-callgate-delivery'])).size).toBe(3);
    for (const x of [...all, ...r.received.filter((y) => y.path === '/low')]) {
      const ts = String(x.headers['x-callgate-timestamp']);
      expect(verifySignature(SECRET, ts, x.body, String(x.headers['x-callgate-signature']), { toleranceSeconds: 60 })).toBe(true);
      expect(verifySignature('another-secret-123456', ts, x.body, String(x.headers['x-callgate-signature']))).toBe(false);
      expect(x.headers['content-type']).toBe('application/json');
      const body = JSON.parse(x.body) as Record<string, unknown>;
      expect(x.headers['x-callgate-event']).toBe(body.type);
      expect(x.headers['x-callgate-delivery']).toBe(body.id);
      expect(body.account).toBe(id);
      expect(typeof body.at).toBe('number');
    }
    const bodies = all.map((x) => JSON.parse(x.body) as Record<string, unknown>).sort((a, b) => Number(a.at) - Number(b.at) || String(a.id).localeCompare(String(b.id)));
    expect(bodies.map((b) => b.type).sort()).toEqual(['low_balance', 'status_changed', 'status_changed']);
    expect(bodies.find((b) => b.type === 'low_balance')).toMatchObject({ balance: 4_000_000, threshold: 5_000_000, status: 'on' });
    expect(bodies.filter((b) => b.type === 'status_changed').map((b) => [b.previous, b.status, b.offReason]).sort()).toEqual([
      ['off/depleted', 'on', ''],
      ['on/', 'off', 'manual'],
    ]);
    const low = r.received.filter((x) => x.path === '/low');
    expect(low.map((x) => x.headers['x-callgate-event'])).toEqual(['low_balance']);

    await until('acknowledged', async () => (await c.conn.redis.xLen(c.keys.events(id))) === 0);
    await expectOutboxEmpty(c, [id]);
    expect(d.stats()).toMatchObject({ delivered: 4, failed: 0, deadLettered: 0, acknowledged: 3, inFlight: 0 });
  });

  it('retries a failing endpoint with backoff, then dead-letters the event after maxAttempts', async () => {
    const c = ctx();
    const r = await receiver((x) => (x.path === '/bad' ? 500 : 200));
    const metrics = createMetrics();
    const id = await accountWithEvents(c);
    const [lowId] = (await c.conn.redis.xRange(c.keys.events(id), '-', '+')).filter((e) => e.message.type === 'low_balance').map((e) => e.id);
    const d = dispatcher(
      [id],
      { webhooks: [hook(r, 'bad', { events: ['low_balance'] }), hook(r, 'good')], maxAttempts: 3, backoffMs: 20, maxBackoffMs: 100 },
      'sw1',
      metrics,
    );
    await d.start();
    await until('dead letter', () => d.stats().deadLettered === 1);
    await until('acknowledged', async () => (await c.conn.redis.xLen(c.keys.events(id))) === 0);

    const bad = r.received.filter((x) => x.path === '/bad');
    expect(bad.map((x) => x.headers['x-callgate-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(bad.map((x) => x.headers['x-callgate-delivery']))).toEqual(new Set([lowId]));
    expect(new Set(bad.map((x) => x.body)).size).toBe(1); // the same bytes on every attempt
    for (let i = 1; i < bad.length; i++) expect(bad[i]!.at - bad[i - 1]!.at).toBeGreaterThanOrEqual(5); // backoff (20 ms * 2^(n-1), half jittered)
    expect(r.deliveredIds('/good')).toHaveLength(3);

    const dead = (await c.conn.redis.xRange(deadLetterKey(c.keys), '-', '+')).filter((e) => e.message.account === id);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.message).toMatchObject({ event: lowId, account: id, type: 'low_balance', webhook: 'bad', attempts: '3', lastError: 'HTTP 500' });
    expect(dead[0]!.message.body).toBe(bad[0]!.body);
    await expectOutboxEmpty(c, [id]);

    const count = async (outcome: string) =>
      (await metrics.webhookDeliveries.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    expect([await count('delivered'), await count('failed'), await count('dead_lettered')]).toEqual([3, 3, 1]);
    expect((await metrics.webhookDeliverySeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(6);
  });

  it('loses no event when a dispatcher is stopped mid-flight: another instance takes the pending events over', async () => {
    const c = ctx();
    const r = await receiver(() => 'hang');
    const ids = [await accountWithEvents(c), await accountWithEvents(c)];
    const all = (await Promise.all(ids.map((id) => eventIds(c, id)))).flat();
    expect(all).toHaveLength(6);
    const first = dispatcher(ids, { webhooks: [hook(r, 'w')], timeoutMs: 400, reclaimIdleMs: 300, concurrency: 2 }, 'swA');
    await first.start();
    await until('POSTs in flight', () => r.received.length >= 2);
    await first.stop(); // waits for the hung POSTs to time out; acknowledges nothing
    expect(r.deliveredIds()).toHaveLength(0);
    for (const id of ids) expect(await c.conn.redis.xLen(c.keys.events(id))).toBe(3);

    r.state.respond = () => 200;
    const second = dispatcher(ids, { webhooks: [hook(r, 'w')], reclaimIdleMs: 300, scanIntervalMs: 100 }, 'swB');
    await second.start();
    await until('every event delivered', () => new Set(r.deliveredIds()).size === all.length);
    await until('acknowledged', async () => (await Promise.all(ids.map((id) => c.conn.redis.xLen(c.keys.events(id))))).every((n) => n === 0));
    expect(new Set(r.deliveredIds())).toEqual(new Set(all));
    expect(second.stats().reclaimed).toBeGreaterThanOrEqual(all.length - 2);
    await expectOutboxEmpty(c, ids);
  });

  it('loses no event when an instance dies after reading: its entries are reclaimed once idle', async () => {
    const c = ctx();
    const r = await receiver();
    const id = await accountWithEvents(c);
    const all = await eventIds(c, id);
    // a dead instance: it read every event through the group and never acknowledged them
    const stream = c.keys.events(id);
    await c.conn.redis.xGroupCreate(stream, NOTIFY_GROUP, '0', { MKSTREAM: true });
    const read = await c.conn.redis.xReadGroup(NOTIFY_GROUP, 'sw-dead', { key: stream, id: '>' }, { COUNT: 100 });
    expect(read?.[0]?.messages).toHaveLength(3);

    const d = dispatcher([id], { webhooks: [hook(r, 'w')], reclaimIdleMs: 300, scanIntervalMs: 100 }, 'sw-live');
    await d.start();
    expect(r.received).toHaveLength(0); // not idle long enough yet
    await until('every event delivered', () => new Set(r.deliveredIds()).size === all.length);
    await until('acknowledged', async () => (await c.conn.redis.xLen(stream)) === 0);
    expect(r.deliveredIds().sort()).toEqual([...all].sort());
    await expectOutboxEmpty(c, [id]);
  });

  it('keeps attempt counts across a restart with the same consumer id', async () => {
    const c = ctx();
    const r = await receiver(() => 500);
    const id = await accountWithEvents(c);
    const [lowId] = (await c.conn.redis.xRange(c.keys.events(id), '-', '+')).filter((e) => e.message.type === 'low_balance').map((e) => e.id);
    const webhooks = [hook(r, 'w', { events: ['low_balance'] })];
    const first = dispatcher([id], { webhooks, maxAttempts: 3, backoffMs: 60_000, maxBackoffMs: 60_000 }, 'sw1');
    await first.start();
    await until('first attempt', () => r.received.length === 1);
    await until('attempt recorded', async () => (await c.conn.redis.hGet(deliveriesKey(c.keys, id), `${lowId}/w`)) === '1|HTTP 500');
    await first.stop(); // in backoff: nothing in flight
    expect(await c.conn.redis.xLen(c.keys.events(id))).toBe(1); // the two status events, unsubscribed, were acknowledged

    const again = dispatcher([id], { webhooks, maxAttempts: 3 }, 'sw1');
    await again.start();
    await until('dead letter', () => again.stats().deadLettered === 1);
    expect(r.received.map((x) => x.headers['x-callgate-attempt'])).toEqual(['1', '2', '3']);
    const dead = (await c.conn.redis.xRange(deadLetterKey(c.keys), '-', '+')).filter((e) => e.message.account === id);
    expect(dead.map((e) => [e.message.event, e.message.attempts])).toEqual([[lowId, '3']]);
    await until('acknowledged', async () => (await c.conn.redis.xLen(c.keys.events(id))) === 0);
    await expectOutboxEmpty(c, [id]);
  });

  it('never lets another instance take over the slow deliveries of a live one', async () => {
    const c = ctx();
    const r = await receiver(() => ({ status: 200, delayMs: 700 }));
    const id = await accountWithEvents(c);
    const all = await eventIds(c, id);
    const webhooks = [hook(r, 'w')];
    // A's own scans never run during the test (they would reclaim its idle entries to itself): only its claim renewal protects them
    const a = dispatcher([id], { webhooks, reclaimIdleMs: 200, scanIntervalMs: 3_600_000 }, 'swA');
    await a.start();
    await until('POSTs in flight', () => r.received.length === 3);
    // B scans every 50 ms and would take over anything idle for 200 ms; A renews its claims meanwhile
    const b = dispatcher([id], { webhooks, reclaimIdleMs: 200, scanIntervalMs: 50 }, 'swB');
    await b.start();
    await until('acknowledged', async () => (await c.conn.redis.xLen(c.keys.events(id))) === 0);
    await sleep(300); // a window, not a wait: B's scans find nothing idle to take over, so nothing is delivered twice
    expect(r.received).toHaveLength(3);
    expect(r.deliveredIds().sort()).toEqual([...all].sort());
    expect([a.stats().delivered, b.stats().delivered, b.stats().reclaimed]).toEqual([3, 0, 0]);
  });

  it('delivers each event through exactly one of several instances', async () => {
    const c = ctx();
    const r = await receiver();
    const ids: string[] = [];
    const webhooks = [hook(r, 'w')];
    const a = dispatcher(ids, { webhooks, scanIntervalMs: 200 }, 'swA');
    const b = dispatcher(ids, { webhooks, scanIntervalMs: 200 }, 'swB');
    await Promise.all([a.start(), b.start()]);
    for (let i = 0; i < 5; i++) ids.push(await accountWithEvents(c));
    await until('every event delivered', () => r.received.length >= 15);
    await sleep(400); // a window, not a wait: two scans pass and nothing more arrives
    expect(r.received).toHaveLength(15);
    const bodies = r.received.map((x) => JSON.parse(x.body) as { id: string; account: string; type: string });
    expect(new Set(bodies.map((b) => `${b.account}/${b.id}`)).size).toBe(15);
    for (const id of ids) expect(bodies.filter((b) => b.account === id).map((b) => b.type).sort()).toEqual(['low_balance', 'status_changed', 'status_changed']);
    expect(a.stats().delivered + b.stats().delivered).toBe(15);
    await until('acknowledged', async () => (await Promise.all(ids.map((id) => c.conn.redis.xLen(c.keys.events(id))))).every((n) => n === 0));
  });

  it('paces deliveries to one endpoint at least minTimeMs apart', async () => {
    const c = ctx();
    const r = await receiver();
    const id = await toggledAccount(c, 4); // 5 events: ON by the payment, then OFF, ON, OFF, ON
    expect(await c.conn.redis.xLen(c.keys.events(id))).toBe(5);
    const d = dispatcher([id], { webhooks: [hook(r, 'w')], minTimeMs: 100, concurrency: 4 });
    await d.start();
    await until('5 deliveries', () => r.received.length === 5);
    const at = r.received.map((x) => x.at).sort((x, y) => x - y);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(80);
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(4 * 90);
  });
});

describe('notify config', () => {
  it('reads webhooks from CALLGATE_WEBHOOKS and scalar keys from the environment', () => {
    const webhooks = [{ id: 'billing', url: 'https://hooks.example.com/callgate', secret: 'a-long-enough-secret', events: ['low_balance'] }];
    const config = loadConfig({
      env: { NODE_ENV: 'test', CALLGATE_WEBHOOKS: JSON.stringify(webhooks), CALLGATE_NOTIFY_MAX_ATTEMPTS: '5', CALLGATE_NOTIFY_MIN_TIME_MS: '100' },
    });
    expect(config.notify).toMatchObject({ webhooks, maxAttempts: 5, minTimeMs: 100, backoffMs: 500, timeoutMs: 5000, concurrency: 4, scanIntervalMs: 30000 });
  });

  it('refuses a short secret, a non-http URL and a duplicate id, all at once', () => {
    const webhooks = [
      { id: 'a', url: 'ftp://hooks.example.com/', secret: 'short' },
      { id: 'a', url: 'http://hooks.example.com/', secret: 'a-long-enough-secret' },
    ];
    try {
      loadConfig({ env: { NODE_ENV: 'test', CALLGATE_WEBHOOKS: JSON.stringify(webhooks) } });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/notify\.webhooks\.0\.url/);
      expect(problems).toMatch(/notify\.webhooks\.0\.secret/);
      expect(problems).toMatch(/duplicate webhook id a/);
    }
  });
});
