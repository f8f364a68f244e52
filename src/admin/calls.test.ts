import { describe, expect, it } from 'vitest';
import { ValidationError, AccountNotFoundError, RateDeckInvalidError } from '../accounts/errors.js';
import { CorruptCallRecordError, callView, countBySwitch, decodeCallRecord, mapBounded } from './calls.js';
import { AdminUnavailableError, UnauthorizedError, errorReply } from './errors.js';

const STATIC = JSON.stringify({
  sipCallId: 'abc@host', accountId: 'acme', from: '1555', to: '4420', srcIp: '192.0.2.1', invitedAt: 1_700_000_000_000,
  prefix: '44', ratePerMin: 20_000, connectFee: 50_000, firstIncrement: 60, nextIncrement: 60, taxExempt: false,
});

describe('decodeCallRecord', () => {
  it('decodes the meter and the static CDR fields the scripts store', () => {
    const r = decodeCallRecord('c1', `sw1|60000|70000|65000|5000|60|59871|1700000060000|1700000001000\n${STATIC}`);
    expect(r).toEqual({
      callId: 'c1', switchId: 'sw1', reserved: 60_000, committed: 70_000, cost: 65_000, tax: 5_000, billedSec: 60, talkMs: 59_871,
      lastBeatAt: 1_700_000_060_000, answeredAt: 1_700_000_001_000,
      static: {
        sipCallId: 'abc@host', from: '1555', to: '4420', srcIp: '192.0.2.1', invitedAt: 1_700_000_000_000, prefix: '44', ratePerMin: 20_000, connectFee: 50_000,
      },
    });
    expect(callView('acme', r)).toMatchObject({ state: 'answered', reservedUsd: '0.060000', committedUsd: '0.070000', invitedAt: '2023-11-14T22:13:20.000Z' });
  });

  it('a ringing call has no answer time; an unreadable static part leaves the CDR fields unknown', () => {
    const r = decodeCallRecord('c2', 'sw2|1000|0|0|0|0|0|1700000000000|0\nnot json');
    expect(r.answeredAt).toBeNull();
    expect(r.static).toEqual({ sipCallId: null, from: null, to: null, srcIp: null, invitedAt: null, prefix: null, ratePerMin: null, connectFee: null });
    expect(callView('a', r)).toMatchObject({ state: 'ringing', answeredAt: null, invitedAt: null });
    // wrong JSON types are not passed through
    expect(decodeCallRecord('c3', 'sw|0|0|0|0|0|0|0|0\n{"from":5,"invitedAt":"x"}').static).toMatchObject({ from: null, invitedAt: null });
  });

  it('refuses a malformed meter with a named error', () => {
    for (const bad of ['', 'sw1|1|2|3', 'sw1|a|0|0|0|0|0|0|0\n{}', 'sw1|0|0|0|0|0|0|0|0', 'sw1|0|0|0|0|0|0|0|0|0\n{}']) {
      expect(() => decodeCallRecord('x', bad), JSON.stringify(bad)).toThrow(CorruptCallRecordError);
    }
  });

  it('counts by switch and maps with bounded concurrency, in order', async () => {
    const a = decodeCallRecord('a', 'sw1|0|0|0|0|0|0|0|0\n{}');
    const b = decodeCallRecord('b', 'sw2|0|0|0|0|0|0|0|0\n{}');
    expect(countBySwitch([a, b, a])).toEqual({ sw1: 2, sw2: 1 });
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded([5, 1, 4, 2, 3], 2, async (n) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, n)); // the scenario: work of uneven length, finishing out of order
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});

describe('errorReply', () => {
  it('maps each cause to one status and one stable code', () => {
    expect(errorReply(new ValidationError(['a: b']))).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', problems: ['a: b'] } } });
    expect(errorReply(new AccountNotFoundError('x'))).toMatchObject({ status: 404, body: { error: { code: 'account_not_found' } } });
    expect(errorReply(new RateDeckInvalidError('d', [{ line: 3, message: 'bad' }]))).toMatchObject({
      status: 422,
      body: { error: { code: 'ratedeck_invalid', problems: [{ line: 3, message: 'bad' }], problemCount: 1 } },
    });
    expect(errorReply(new UnauthorizedError('no'))).toMatchObject({ status: 401, headers: { 'www-authenticate': expect.stringMatching(/^Bearer/) } });
    expect(errorReply(new AdminUnavailableError('slow'))).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    expect(errorReply(Object.assign(new Error('too big'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }))).toMatchObject({
      status: 413,
      body: { error: { code: 'payload_too_large' } },
    });
    const bug: unknown[] = [];
    const out = errorReply(new TypeError('undefined is not a function'), (e) => bug.push(e));
    expect(out).toMatchObject({ status: 500, body: { error: { code: 'internal' } } });
    expect(JSON.stringify(out.body)).not.toContain('undefined is not a function');
    expect(bug).toHaveLength(1);
  });
});
