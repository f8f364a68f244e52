import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type Srf from 'drachtio-srf';
import { createMetrics } from '../metrics/metrics.js';
import { createSevereUnroute, hasInviteRouting } from './severe-unroute.js';

/** An Srf as far as routes go: what it sent drachtio-server, in order. */
function fakeSrf() {
  const sent: string[] = [];
  const srf = Object.assign(new EventEmitter(), {
    unregisterForMessages: (verb: string) => sent.push(`remove_route|${verb}`),
    reregisterForMessages: (verb: string) => sent.push(`route|${verb}`),
  });
  return { srf: srf as unknown as Srf, emitter: srf, sent };
}

function setUp(holdMs = 2000) {
  const { srf, emitter, sent } = fakeSrf();
  const metrics = createMetrics();
  let t = 1_000_000;
  const unroute = createSevereUnroute({ srf, logger: pino({ level: 'silent' }), metrics, severeLevel: 0.9, holdMs, now: () => t });
  const gauge = async () => (await metrics.inviteRouteOff.get()).values[0]?.value;
  return { unroute, emitter, sent, gauge, metrics, advance: (ms: number) => { t += ms; } };
}

describe('the INVITE route at the severe level', () => {
  it('comes off only while connected and at or above the severe level, and back once below it after the hold', async () => {
    const { unroute, emitter, sent, gauge, metrics, advance } = setUp();
    unroute.update(1);
    expect(sent).toEqual([]); // not connected yet: drachtio-srf would forget a removal
    emitter.emit('connect', null, '127.0.0.1:9022');
    unroute.update(0.89);
    expect(sent).toEqual([]);
    unroute.update(0.9);
    expect(sent).toEqual(['remove_route|invite']);
    expect(await gauge()).toBe(1);
    unroute.update(1);
    expect(sent).toHaveLength(1); // once
    advance(1000);
    unroute.update(0.1);
    expect(sent).toHaveLength(1); // within the hold
    advance(1000);
    unroute.update(0.95);
    expect(sent).toHaveLength(1); // still severe
    unroute.update(0.5);
    expect(sent).toEqual(['remove_route|invite', 'route|invite']);
    expect(await gauge()).toBe(0);
    expect((await metrics.inviteRouteOffSeconds.get()).values[0]?.value).toBe(2);
  });

  it('is put back at once when the link to drachtio-server comes back, and when callgate stops', () => {
    const { unroute, emitter, sent } = setUp();
    emitter.emit('connect', null);
    unroute.update(1);
    emitter.emit('close');
    emitter.emit('connect', null); // drachtio-srf re-sent only the routes it still held
    expect(sent).toEqual(['remove_route|invite', 'route|invite']);
    unroute.update(1);
    unroute.stop();
    expect(sent).toEqual(['remove_route|invite', 'route|invite', 'remove_route|invite', 'route|invite']);
    expect(unroute.isOff()).toBe(false);
  });

  it('never comes off with a hold of 0, nor from an Srf without the route switches', () => {
    const off = setUp(0);
    off.emitter.emit('connect', null);
    off.unroute.update(1);
    expect(off.sent).toEqual([]);
    expect(hasInviteRouting(new EventEmitter())).toBe(false);
    const bare = new EventEmitter();
    const plain = createSevereUnroute({
      srf: bare as unknown as Srf, logger: pino({ level: 'silent' }), metrics: createMetrics(), severeLevel: 0.9, holdMs: 2000,
    });
    bare.emit('connect', null);
    plain.update(1);
    expect(plain.isOff()).toBe(false);
  });
});
