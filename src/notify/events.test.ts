import { describe, expect, it } from 'vitest';
import { eventFromEntry } from './events.js';

describe('webhook event bodies', () => {
  it('carries the entry id, type, account and time, with integer fields as numbers', () => {
    const e = eventFromEntry('acme', '1700000000123-4', {
      type: 'low_balance', account: 'acme', at: '1700000000120', status: 'on', offReason: '', balance: '-4000000', threshold: '5000000',
    });
    expect(e).toMatchObject({ id: '1700000000123-4', type: 'low_balance', account: 'acme' });
    expect(JSON.parse(e.body)).toEqual({
      id: '1700000000123-4', type: 'low_balance', account: 'acme', at: 1700000000120, status: 'on', offReason: '', balance: -4000000, threshold: 5000000,
    });
  });

  it('passes unknown event types and fields through as strings', () => {
    const e = eventFromEntry('acme', '1700000000123-0', {
      type: 'call_torn_down', account: 'acme', at: '1700000000120', callId: '12345', reason: 'funds_exhausted', talkMs: '61000', previous: 'on/',
    });
    expect(JSON.parse(e.body)).toMatchObject({ type: 'call_torn_down', callId: '12345', reason: 'funds_exhausted', talkMs: 61000, previous: 'on/' });
  });

  it('takes the account from the stream key, never lets a field shadow the entry id, and falls back on the id for time', () => {
    const e = eventFromEntry('acme', '1700000000123-0', { type: 'status_changed', account: 'other', id: 'forged' });
    expect(JSON.parse(e.body)).toEqual({ id: '1700000000123-0', type: 'status_changed', account: 'acme', at: 1700000000123 });
  });
});
