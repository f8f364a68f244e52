import { describe, expect, it } from 'vitest';
import { checkSourceAddress } from './addresses.js';

describe('checkSourceAddress', () => {
  it.each([
    ['192.0.2.10', '192.0.2.10'],
    ['198.51.100.0/24', '198.51.100.0/24'],
    ['192.0.2.7/32', '192.0.2.7/32'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['::ffff:192.0.2.0/120', '::ffff:192.0.2.0/120'],
  ])('accepts %s', (text, value) => {
    expect(checkSourceAddress(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['10.0.0.1/24', 'did you mean 10.0.0.0/24?'],
    ['2001:db8::1/64', 'did you mean 2001:db8::/64?'],
    ['::ffff:192.0.2.1/120', 'did you mean ::ffff:c000:200/120?'],
    ['0.0.0.0/0', 'would admit every source address'],
    ['192.0.2.1/33', 'too long for IPv4'],
    ['192.0.2.1/', 'prefix length must be a whole number'],
    ['192.0.2.1/08', 'prefix length must be a whole number'],
    ['192.0.2.1/24/8', 'must be an IPv4 or IPv6 address'],
    ['fe80::1%eth0', 'zone ids'],
    ['example.com', 'must be an IPv4 or IPv6 address'],
    ['192.0.2.256', 'must be an IPv4 or IPv6 address'],
    [' 192.0.2.1', 'must be an IPv4 or IPv6 address'],
  ])('refuses %s', (text, problem) => {
    const r = checkSourceAddress(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain(problem);
  });
});
