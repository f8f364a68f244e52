import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../model/index.js';
import { buildCatalogIndex, identify, normalizeIp, trustedPeerSet, type IdentifyInput } from './catalog-index.js';

function entry(id: string, ips: string[], techPrefix: string | null = null): CatalogEntry {
  return { id, type: 'prepaid', ips, techPrefix, deckId: 'std', taxExempt: false };
}

/** Identifies one INVITE against `entries` (in catalog order) with `trusted` as the trusted peers. */
function who(entries: CatalogEntry[], input: IdentifyInput, trusted: string[] = []) {
  return identify(buildCatalogIndex(entries), trustedPeerSet(trusted), input);
}

const idOf = (r: ReturnType<typeof who>) => (r.ok ? r.account.id : r.why);

describe('normalizeIp', () => {
  it('reads an IPv4-mapped IPv6 address as its IPv4 address, and lowers hex digits', () => {
    expect(normalizeIp('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(normalizeIp('::FFFF:192.0.2.7')).toBe('192.0.2.7');
    expect(normalizeIp('2001:DB8::1')).toBe('2001:db8::1');
    expect(normalizeIp('192.0.2.7')).toBe('192.0.2.7');
  });
});

describe('identification by source address', () => {
  const acme = entry('acme', ['192.0.2.10']);

  it('identifies an exact address, and the dialed number is the Request-URI user as received', () => {
    expect(who([acme], { sourceIp: '192.0.2.10', ruriUser: '4420' })).toEqual({ ok: true, account: acme, destination: '4420', via: 'ip' });
  });

  it('says why when no account holds the address', () => {
    expect(who([acme], { sourceIp: '192.0.2.11', ruriUser: '4420' })).toEqual({ ok: false, why: 'unknown_source' });
    expect(who([], { sourceIp: '192.0.2.10', ruriUser: '4420' })).toEqual({ ok: false, why: 'unknown_source' });
  });

  it('matches an IPv4-mapped source against an IPv4 address, either way round', () => {
    expect(idOf(who([acme], { sourceIp: '::ffff:192.0.2.10', ruriUser: '1' }))).toBe('acme');
    expect(idOf(who([entry('mapped', ['::ffff:192.0.2.20'])], { sourceIp: '192.0.2.20', ruriUser: '1' }))).toBe('mapped');
  });

  it('matches an IPv6 address whatever the case of its hex digits', () => {
    const v6 = entry('v6', ['2001:db8::1']);
    expect(idOf(who([v6], { sourceIp: '2001:DB8::1', ruriUser: '1' }))).toBe('v6');
    expect(idOf(who([v6], { sourceIp: '2001:db8::2', ruriUser: '1' }))).toBe('unknown_source');
  });

  it('compares exact addresses as text: an uncompressed IPv6 spelling is not the stored one (ranges do not care)', () => {
    expect(idOf(who([entry('v6', ['2001:db8::1'])], { sourceIp: '2001:db8:0:0::1', ruriUser: '1' }))).toBe('unknown_source');
    expect(idOf(who([entry('v6', ['2001:db8::1/128'])], { sourceIp: '2001:db8:0:0::1', ruriUser: '1' }))).toBe('v6');
  });
});

describe('identification by CIDR range', () => {
  it('identifies any address inside an IPv4 range, and nothing outside it', () => {
    const ranged = [entry('ranged', ['198.51.100.0/24'])];
    expect(who(ranged, { sourceIp: '198.51.100.77', ruriUser: '1' })).toMatchObject({ ok: true, via: 'ip', account: { id: 'ranged' } });
    expect(idOf(who(ranged, { sourceIp: '198.51.101.1', ruriUser: '1' }))).toBe('unknown_source');
  });

  it('identifies inside an IPv6 range, in any spelling of the address', () => {
    const ranged = [entry('v6', ['2001:db8::/32'])];
    expect(idOf(who(ranged, { sourceIp: '2001:DB8:ffff::1', ruriUser: '1' }))).toBe('v6');
    expect(idOf(who(ranged, { sourceIp: '2001:db9::1', ruriUser: '1' }))).toBe('unknown_source');
  });

  it('matches an IPv4-mapped source against an IPv4 range, and an IPv4 source against a mapped range', () => {
    expect(idOf(who([entry('v4', ['192.0.2.0/24'])], { sourceIp: '::ffff:192.0.2.5', ruriUser: '1' }))).toBe('v4');
    expect(idOf(who([entry('mapped', ['::ffff:192.0.2.0/120'])], { sourceIp: '192.0.2.5', ruriUser: '1' }))).toBe('mapped');
  });

  it('does not match an IPv4 range to an IPv6 source, nor a hostile source to anything', () => {
    const ranged = [entry('v4', ['0.0.0.0/0'])];
    expect(idOf(who(ranged, { sourceIp: '2001:db8::1', ruriUser: '1' }))).toBe('unknown_source');
    expect(idOf(who(ranged, { sourceIp: 'not-an-ip', ruriUser: '1' }))).toBe('unknown_source');
    expect(idOf(who(ranged, { sourceIp: '', ruriUser: '1' }))).toBe('unknown_source');
  });

  it('puts accounts on an exact address and in a range holding it among the same candidates', () => {
    const entries = [entry('ranged', ['192.0.2.0/24'], '77#'), entry('exact', ['192.0.2.10'])];
    expect(idOf(who(entries, { sourceIp: '192.0.2.10', ruriUser: '77#4420' }))).toBe('ranged');
    expect(idOf(who(entries, { sourceIp: '192.0.2.10', ruriUser: '4420' }))).toBe('exact');
  });
});

describe('identification by tech prefix among accounts sharing an address', () => {
  const shared = '203.0.113.5';
  const plain = entry('plain', [shared]);
  const short = entry('short', [shared], '10#');
  const long = entry('long', [shared], '1001#');

  it('lets the longest matching prefix win, whatever the catalog order, and strips it from the dialed number', () => {
    for (const entries of [[plain, short, long], [long, short, plain], [short, plain, long]]) {
      expect(who(entries, { sourceIp: shared, ruriUser: '1001#4420' })).toEqual({ ok: true, account: long, destination: '4420', via: 'tech_prefix' });
    }
  });

  it('takes a shorter prefix when the longer one does not match', () => {
    expect(who([long, short, plain], { sourceIp: shared, ruriUser: '10#4420' })).toEqual({ ok: true, account: short, destination: '4420', via: 'tech_prefix' });
  });

  it('falls back to the account without a prefix when no prefix matches, and keeps the number whole', () => {
    expect(who([long, short, plain], { sourceIp: shared, ruriUser: '4420' })).toEqual({ ok: true, account: plain, destination: '4420', via: 'ip' });
  });

  it('identifies no one when every account on the address wants a prefix the number lacks', () => {
    expect(who([long, short], { sourceIp: shared, ruriUser: '4420' })).toEqual({ ok: false, why: 'no_tech_prefix_match' });
  });

  it('identifies a lone prefixed account by its address only with its prefix', () => {
    expect(idOf(who([long], { sourceIp: shared, ruriUser: '1001#4420' }))).toBe('long');
    expect(idOf(who([long], { sourceIp: shared, ruriUser: '4420' }))).toBe('no_tech_prefix_match');
  });

  it('reads an empty prefix as no prefix', () => {
    expect(who([entry('empty', [shared], '')], { sourceIp: shared, ruriUser: '4420' })).toMatchObject({ ok: true, via: 'ip', destination: '4420' });
  });
});

describe('ties between accounts (an ambiguous catalog, written by an older version)', () => {
  const shared = '203.0.113.9';

  it('identifies no one when several accounts without a prefix hold the address: no pick is a guess', () => {
    const entries = [entry('mike', [shared]), entry('alpha', [shared]), entry('zulu', [shared])];
    expect(who(entries, { sourceIp: shared, ruriUser: '4420' })).toEqual({ ok: false, why: 'ambiguous', accounts: ['alpha', 'mike', 'zulu'] });
    expect(who([...entries].reverse(), { sourceIp: shared, ruriUser: '4420' })).toEqual({ ok: false, why: 'ambiguous', accounts: ['alpha', 'mike', 'zulu'] });
  });

  it('does the same across an exact address and a range, and still counts one account in both as one', () => {
    const entries = [entry('zulu', [shared]), entry('alpha', ['203.0.113.0/24'])];
    expect(who(entries, { sourceIp: shared, ruriUser: '4420' })).toEqual({ ok: false, why: 'ambiguous', accounts: ['alpha', 'zulu'] });
    expect(idOf(who([entry('both', [shared, '203.0.113.0/24'])], { sourceIp: shared, ruriUser: '4420' }))).toBe('both');
  });

  it('identifies no one for equally long matching prefixes, and still identifies the calls a prefix tells apart', () => {
    const b = entry('bravo', [shared], '55#');
    const a = entry('alpha', [shared], '66#');
    const c = entry('charlie', [shared], '55#');
    expect(who([b, a, c], { sourceIp: shared, ruriUser: '55#4420' })).toEqual({ ok: false, why: 'ambiguous', accounts: ['bravo', 'charlie'] });
    expect(idOf(who([b, a, c], { sourceIp: shared, ruriUser: '66#4420' }))).toBe('alpha');
    const ranged = entry('ranged', ['203.0.113.0/24'], '55#');
    expect(idOf(who([ranged, b], { sourceIp: shared, ruriUser: '55#4420' }))).toBe('ambiguous');
  });

  it('lists the accounts that clash in the index, for the start-up report, /readyz and the metric', () => {
    const index = buildCatalogIndex([entry('bravo', [shared], '55#'), entry('charlie', [shared], '55#'), entry('alpha', [shared], '66#')]);
    expect(Object.fromEntries(index.ambiguous)).toEqual({ bravo: ['charlie'], charlie: ['bravo'] });
  });
});

describe('the trusted identification header', () => {
  const peer = '10.7.7.7';
  const acme = entry('acme', ['192.0.2.10'], '1001#');
  const other = entry('other', [peer]);

  it('is believed from a trusted peer, and decides alone: the source address plays no part', () => {
    expect(who([acme, other], { sourceIp: peer, ruriUser: '1001#4420', trustedAccountId: 'acme' }, [peer])).toEqual({
      ok: true, account: acme, destination: '4420', via: 'trusted_header',
    });
  });

  it('keeps the number whole when it does not start with the named account tech prefix', () => {
    expect(who([acme], { sourceIp: peer, ruriUser: '4420', trustedAccountId: 'acme' }, [peer])).toMatchObject({ ok: true, destination: '4420' });
  });

  it('recognises a trusted peer behind an IPv4-mapped address or listed in another spelling', () => {
    expect(idOf(who([acme], { sourceIp: '::ffff:10.7.7.7', ruriUser: '1', trustedAccountId: 'acme' }, [peer]))).toBe('acme');
    expect(idOf(who([acme], { sourceIp: '10.7.7.7', ruriUser: '1', trustedAccountId: 'acme' }, ['::ffff:10.7.7.7']))).toBe('acme');
    expect(idOf(who([acme], { sourceIp: 'fd00::7', ruriUser: '1', trustedAccountId: 'acme' }, ['FD00::7']))).toBe('acme');
  });

  it('from a trusted peer, refuses an id the catalog lacks, or one that is not an id, rather than falling back to the address', () => {
    for (const trustedAccountId of ['nobody', '{a:acme}', 'acme}:x', '*', '', 'a'.repeat(65)]) {
      expect(who([acme, other], { sourceIp: peer, ruriUser: '4420', trustedAccountId }, [peer])).toEqual({ ok: false, why: 'unknown_trusted_account' });
    }
  });

  it('is ignored from any other peer: the source address decides, as if the header were absent', () => {
    // a peer that claims to be acme is identified as itself
    expect(who([acme, other], { sourceIp: peer, ruriUser: '4420', trustedAccountId: 'acme' })).toEqual({ ok: true, account: other, destination: '4420', via: 'ip' });
    expect(who([acme, other], { sourceIp: peer, ruriUser: '4420', trustedAccountId: 'acme' }, ['10.7.7.8'])).toMatchObject({ account: { id: 'other' } });
    // an unknown peer is refused, not let in on the header's word
    expect(who([acme], { sourceIp: '10.1.1.1', ruriUser: '1001#4420', trustedAccountId: 'acme' })).toEqual({ ok: false, why: 'unknown_source' });
  });

  it('is not needed from a trusted peer: without it the peer is identified by its address', () => {
    expect(idOf(who([acme, other], { sourceIp: peer, ruriUser: '4420' }, [peer]))).toBe('other');
  });
});
