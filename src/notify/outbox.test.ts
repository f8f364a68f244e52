import { describe, expect, it } from 'vitest';
import { compareEntryIds, pendingWindow } from './outbox.js';

describe('stream entry ids', () => {
  it('orders by milliseconds, then sequence, as numbers not text', () => {
    expect(compareEntryIds('1700000000123-0', '1700000000124-0')).toBe(-1);
    expect(compareEntryIds('1700000000123-10', '1700000000123-9')).toBe(1);
    expect(compareEntryIds('999-0', '1000-0')).toBe(-1);
    expect(compareEntryIds('1700000000123-5', '1700000000123-5')).toBe(0);
  });

  it('keeps exact order past the range of doubles', () => {
    expect(compareEntryIds('1-18446744073709551614', '1-18446744073709551615')).toBe(-1);
  });

  it('covers a set of ids with one XPENDING range, with room for the entries between them', () => {
    expect(pendingWindow(['20-0', '3-1', '3-0'])).toEqual({ start: '3-0', end: '20-0', count: 100 });
    const many = Array.from({ length: 80 }, (_, i) => `${1000 - i}-0`);
    expect(pendingWindow(many)).toEqual({ start: '921-0', end: '1000-0', count: 160 });
  });
});
