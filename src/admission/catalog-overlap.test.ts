import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../model/index.js';
import { addressesOverlap, ambiguousAccounts, clashProblem, clashesOf, techPrefixesDistinct } from './catalog-overlap.js';

function entry(id: string, ips: string[], techPrefix: string | null = null): CatalogEntry {
  return { id, type: 'prepaid', ips, techPrefix, deckId: 'std', taxExempt: false };
}

describe('addressesOverlap', () => {
  it('compares IPv4 addresses and blocks', () => {
    expect(addressesOverlap('192.0.2.10', '192.0.2.10')).toBe(true);
    expect(addressesOverlap('192.0.2.10', '192.0.2.11')).toBe(false);
    expect(addressesOverlap('192.0.2.10', '192.0.2.0/24')).toBe(true);
    expect(addressesOverlap('192.0.2.0/25', '192.0.2.128/25')).toBe(false);
    expect(addressesOverlap('10.0.0.0/8', '10.200.0.0/16')).toBe(true);
  });

  it('compares IPv6 in any spelling, and never IPv4 with IPv6', () => {
    expect(addressesOverlap('2001:db8::1', '2001:0db8:0:0::1')).toBe(true);
    expect(addressesOverlap('2001:db8::/32', '2001:db8:ffff::1')).toBe(true);
    expect(addressesOverlap('2001:db8::/33', '2001:db8:8000::/33')).toBe(false);
    expect(addressesOverlap('192.0.2.1', '2001:db8::1')).toBe(false);
  });

  it('reads an IPv4-mapped IPv6 address or block as its IPv4 one, as identification does', () => {
    expect(addressesOverlap('::ffff:192.0.2.10', '192.0.2.10')).toBe(true);
    expect(addressesOverlap('::ffff:192.0.2.0/120', '192.0.2.77')).toBe(true);
    expect(addressesOverlap('::ffff:192.0.2.0/120', '192.0.3.1')).toBe(false);
  });
});

describe('techPrefixesDistinct', () => {
  it('needs two prefixes, neither starting the other', () => {
    expect(techPrefixesDistinct('1001', '1002')).toBe(true);
    expect(techPrefixesDistinct('1001', '10011')).toBe(false);
    expect(techPrefixesDistinct('1001', '1001')).toBe(false);
    expect(techPrefixesDistinct('1001', null)).toBe(false);
    expect(techPrefixesDistinct(null, null)).toBe(false);
  });
});

describe('clashesOf', () => {
  const acme = entry('acme', ['192.0.2.10', '2001:db8::/48'], '1001');
  it('names the other account and the addresses that overlap', () => {
    expect(clashesOf(entry('new', ['192.0.2.0/24']), [acme])).toEqual([{ otherId: 'acme', address: '192.0.2.0/24', otherAddress: '192.0.2.10', kind: 'addresses' }]);
    expect(clashesOf(entry('new', ['2001:db8:0:1::5']), [acme])[0]).toMatchObject({ otherId: 'acme' });
    expect(clashesOf(entry('new', ['192.0.2.11']), [acme])).toEqual([]);
  });

  it('lets distinct tech prefixes share an address, but not one prefix of the other, nor none', () => {
    expect(clashesOf(entry('new', ['192.0.2.10'], '1002'), [acme])).toEqual([]);
    expect(clashesOf(entry('new', ['192.0.2.10'], '10011'), [acme])).toHaveLength(1);
    expect(clashesOf(entry('new', ['192.0.2.10'], '100'), [acme])).toHaveLength(1);
    expect(clashesOf(entry('new', ['192.0.2.10'], null), [acme])).toHaveLength(1);
  });

  it('skips the entry it replaces, and refuses an id that differs only in case', () => {
    expect(clashesOf(entry('acme', ['192.0.2.10']), [acme])).toEqual([]);
    expect(clashesOf(entry('ACME', ['198.51.100.1']), [acme])).toEqual([{ otherId: 'acme', address: 'ACME', otherAddress: 'acme', kind: 'id' }]);
  });

  it('words the problem with the other account and the way out', () => {
    const [clash] = clashesOf(entry('new', ['192.0.2.0/24']), [acme]);
    expect(clashProblem({ techPrefix: null }, clash!)).toBe(
      'ips: 192.0.2.0/24 overlaps 192.0.2.10 of account "acme": calls from there could be billed to either account (this account has no tech prefix); ' +
        'give each account on a shared address its own tech prefix, none starting another',
    );
  });
});

describe('ambiguousAccounts', () => {
  it('lists every account of a catalog that clashes, with the ones it clashes with', () => {
    const entries = [entry('a', ['192.0.2.1']), entry('b', ['192.0.2.0/30']), entry('c', ['192.0.2.1'], '7'), entry('d', ['198.51.100.1'])];
    expect(Object.fromEntries(ambiguousAccounts(entries))).toEqual({ a: ['b', 'c'], b: ['a', 'c'], c: ['a', 'b'] });
  });
});
