import { describe, expect, it } from 'vitest';
import { FIELD_FLAGS, inCliWords } from './vocabulary.js';
import { accountFieldProperties } from '../admin/schemas.js';

describe('inCliWords: API problems told by the flags the engineer typed', () => {
  it('replaces the leading field name only', () => {
    expect(inCliWords('deckId: rate deck "x" is not loaded')).toBe('--deck: rate deck "x" is not loaded');
    expect(inCliWords('creditLimit: must be decimal dollars')).toBe('--credit-limit: must be decimal dollars');
    expect(inCliWords('burst: must be at least 1 when cps is above 0')).toBe('--burst: must be at least 1 when cps is above 0');
    expect(inCliWords('amountUsd: must be more than 0')).toBe('<usd>: must be more than 0');
  });

  it('numbers list entries as the engineer gave them, from 1', () => {
    expect(inCliWords('ips[0]: not an address')).toBe('--ip #1: not an address');
    expect(inCliWords('ips[2]: overlaps 10.0.0.0/8 of account "b"')).toBe('--ip #3: overlaps 10.0.0.0/8 of account "b"');
  });

  it("takes a command's own names first, and leaves what it does not know alone", () => {
    expect(inCliWords('deckId: must be 1-64 characters', { deckId: '<deckId>' })).toBe('<deckId>: must be 1-64 characters');
    expect(inCliWords('"amountUsd": unknown field')).toBe('<usd>: not accepted by this command');
    expect(inCliWords('somethingNew: odd')).toBe('somethingNew: odd');
    expect(inCliWords('give at least one of channels, cps, burst')).toBe('give at least one of channels, cps, burst');
  });

  it('knows every account field the API takes', () => {
    for (const field of Object.keys(accountFieldProperties)) expect(FIELD_FLAGS[field], field).toMatch(/^--/);
  });
});
