import { describe, expect, it } from 'vitest';
import type { SrfResponse } from './srf-augment.js';
import { giveEveryFinalResponseAReason, upstreamFailureReason } from './bridge.js';

function fakeResponse() {
  const sent: unknown[][] = [];
  const res = { send: (...args: unknown[]) => void sent.push(args) };
  giveEveryFinalResponseAReason(res as unknown as SrfResponse);
  return { res: res as unknown as { send: (...args: unknown[]) => void }, sent };
}

describe('every final response carries a Reason', () => {
  it("adds one to drachtio-srf's own bare answers, in each of send's argument forms", () => {
    const { res, sent } = fakeResponse();
    const cb = () => {};
    res.send(500);
    res.send(487);
    res.send(503, 'Service Unavailable');
    res.send(480, cb);
    res.send(486, 'Busy Here', cb);
    res.send(404, { headers: { 'X-Other': '1' } }, cb);
    expect(sent).toEqual([
      [500, undefined, { headers: { Reason: 'SIP;cause=500;text="Upstream failure"' } }],
      [487, undefined, { headers: { Reason: 'SIP;cause=487;text="Request terminated"' } }],
      [503, 'Service Unavailable', { headers: { Reason: 'SIP;cause=503;text="Upstream failure"' } }],
      [480, { headers: { Reason: 'SIP;cause=480;text="No answer"' } }, cb],
      [486, 'Busy Here', { headers: { Reason: 'SIP;cause=486;text="Busy"' } }, cb],
      [404, { headers: { 'X-Other': '1', Reason: 'SIP;cause=404;text="Upstream failure"' } }, cb],
    ]);
  });

  it('keeps a Reason already given, and leaves provisional and success responses alone', () => {
    const { res, sent } = fakeResponse();
    res.send(402, { headers: { reason: 'SIP;cause=402;text="Insufficient funds"' } });
    res.send(180);
    res.send(200, { body: 'sdp' });
    expect(sent).toEqual([[402, { headers: { reason: 'SIP;cause=402;text="Insufficient funds"' } }], [180], [200, { body: 'sdp' }]]);
  });

  it('puts the response back as it was once the call no longer needs the wrapper', () => {
    const sent: unknown[][] = [];
    class Res {
      send(...args: unknown[]) {
        sent.push(args);
      }
    }
    const res = new Res();
    const restore = giveEveryFinalResponseAReason(res as unknown as SrfResponse);
    expect(Object.hasOwn(res, 'send')).toBe(true);
    restore();
    // the class's own send again: nothing of the call's is kept on the response
    expect(Object.hasOwn(res, 'send')).toBe(false);
    res.send(500);
    expect(sent).toEqual([[500]]);
    const { res: own, sent: ownSent } = fakeResponse();
    const restoreOwn = giveEveryFinalResponseAReason(own as unknown as SrfResponse);
    restoreOwn();
    own.send(500);
    // a send of the response's own, wrapped once before, is the one it had: still with its Reason
    expect(ownSent).toEqual([[500, undefined, { headers: { Reason: 'SIP;cause=500;text="Upstream failure"' } }]]);
  });

  it("words an upstream failure by the switch's answer, never with the switch's own text", () => {
    expect(upstreamFailureReason(600)).toBe('SIP;cause=600;text="Busy"');
    expect(upstreamFailureReason(408)).toBe('SIP;cause=408;text="No answer"');
    expect(upstreamFailureReason(502)).toBe('SIP;cause=502;text="Upstream failure"');
  });
});
