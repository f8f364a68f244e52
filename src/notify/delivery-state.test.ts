import { describe, expect, it } from 'vitest';
import { deliveryField, encodeDeliveryState, parseDeliveryState, type RecordedState } from './delivery-state.js';
import { DispatcherStateError } from './errors.js';

describe('delivery state fields', () => {
  it('names one field per (entry, target)', () => {
    expect(deliveryField('1700000000123-0', 'crm')).toBe('1700000000123-0/crm');
  });

  it('writes the formats the deliveries hash has always held', () => {
    expect(encodeDeliveryState({ kind: 'attempting', attempts: 1, lastError: '' })).toBe('1|');
    expect(encodeDeliveryState({ kind: 'attempting', attempts: 2, lastError: 'HTTP 500' })).toBe('2|HTTP 500');
    expect(encodeDeliveryState({ kind: 'delivered', attempts: 3 })).toBe('delivered|3');
    expect(encodeDeliveryState({ kind: 'dead', attempts: 5 })).toBe('dead|5');
  });

  it('reads back what it writes: attempts and last error while retrying, done at either end', () => {
    const cases: [RecordedState, ReturnType<typeof parseDeliveryState>][] = [
      [{ kind: 'attempting', attempts: 2, lastError: 'TypeError: fetch failed (connect ECONNREFUSED)' },
        { done: false, attempts: 2, lastError: 'TypeError: fetch failed (connect ECONNREFUSED)' }],
      [{ kind: 'attempting', attempts: 1, lastError: 'a|b' }, { done: false, attempts: 1, lastError: 'a|b' }],
      [{ kind: 'delivered', attempts: 1 }, { done: true }],
      [{ kind: 'dead', attempts: 4 }, { done: true }],
    ];
    for (const [state, read] of cases) expect(parseDeliveryState(encodeDeliveryState(state))).toEqual(read);
  });

  it('reads a missing field as not yet tried and a bare count as attempts without an error', () => {
    expect(parseDeliveryState(null)).toEqual({ done: false, attempts: 0, lastError: '' });
    expect(parseDeliveryState(undefined)).toEqual({ done: false, attempts: 0, lastError: '' });
    expect(parseDeliveryState('')).toEqual({ done: false, attempts: 0, lastError: '' });
    expect(parseDeliveryState('3')).toEqual({ done: false, attempts: 3, lastError: '' });
  });

  it('refuses a value no dispatcher writes', () => {
    for (const raw of ['x|1', '-1|err', '1.5|err', 'pending']) expect(() => parseDeliveryState(raw)).toThrow(DispatcherStateError);
  });
});
