import { isIP } from 'node:net';

/**
 * Source addresses of an account's ACL: an IPv4 or IPv6 address, or a CIDR block. Pure: no DNS, no I/O.
 */
export type AddressCheck = { ok: true; value: string } | { ok: false; problem: string };

const PREFIX_LENGTH = /^(0|[1-9][0-9]{0,2})$/;

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  return value === null ? 'null' : typeof value;
}

/** An IPv4 address as a number, for range arithmetic (the address is already validated). */
export function ipv4ToBigInt(text: string): bigint {
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** An IPv6 address (an embedded IPv4 tail included) as a 128-bit number (the address is already validated). */
export function ipv6ToBigInt(text: string): bigint {
  let full = text;
  const lastColon = full.lastIndexOf(':');
  if (full.slice(lastColon + 1).includes('.')) {
    // an embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two groups
    const v4 = ipv4ToBigInt(full.slice(lastColon + 1));
    full = `${full.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = full.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups =
    rest === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

function formatIpv6(value: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => ((value >> shift) & 0xffffn).toString(16));
  // compress the longest run of two or more zero groups, as RFC 5952 asks
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Checks one ACL entry. IPv6 text is lower-cased. A block with bits set past its prefix (10.0.0.1/24) is
 * refused rather than silently widened, and so is /0, which would admit every source on the Internet.
 */
export function checkSourceAddress(text: unknown): AddressCheck {
  const expected = 'must be an IPv4 or IPv6 address or CIDR block (for example 192.0.2.10 or 198.51.100.0/24)';
  if (typeof text !== 'string') return { ok: false, problem: `${expected}, got ${show(text)}` };
  if (text.includes('%')) return { ok: false, problem: `zone ids (%eth0) are not allowed in an ACL, got ${show(text)}` };
  const parts = text.split('/');
  const address = parts[0]!;
  const family = parts.length <= 2 ? isIP(address) : 0;
  if (family === 0) return { ok: false, problem: `${expected}, got ${show(text)}` };
  const value = family === 6 ? text.toLowerCase() : text;
  if (parts.length === 1) return { ok: true, value };

  const prefixText = parts[1]!;
  const max = family === 4 ? 32 : 128;
  if (!PREFIX_LENGTH.test(prefixText)) {
    return { ok: false, problem: `prefix length must be a whole number from 1 to ${max}, got ${show(text)}` };
  }
  const prefix = Number(prefixText);
  if (prefix > max) return { ok: false, problem: `prefix length /${prefix} is too long for IPv${family} (at most /${max}), got ${show(text)}` };
  if (prefix === 0) return { ok: false, problem: `a /0 block would admit every source address, got ${show(text)}` };

  const bits = family === 4 ? ipv4ToBigInt(address) : ipv6ToBigInt(address.toLowerCase());
  const hostMask = (1n << BigInt(max - prefix)) - 1n;
  if ((bits & hostMask) !== 0n) {
    const network = bits & ~hostMask & ((1n << BigInt(max)) - 1n);
    const suggestion = `${family === 4 ? formatIpv4(network) : formatIpv6(network)}/${prefix}`;
    return { ok: false, problem: `${show(text)} has bits set past its /${prefix} prefix: did you mean ${suggestion}?` };
  }
  return { ok: true, value };
}
