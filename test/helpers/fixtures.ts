/** Plain domain values that several pure test files start from; each test spreads and overrides them. */
import type { AccountSettings } from '../../src/accounts/settings.js';
import type { AdmittedCall } from '../../src/model/index.js';

/** A prepaid US account's settings: 10 channels, 5 cps, one source address. */
export const baseSettings: AccountSettings = {
  type: 'prepaid',
  name: '',
  creditLimit: 0,
  channels: 10,
  cps: 5,
  burst: 5,
  fusfOnFile: false,
  billingCountry: 'US',
  lowBalanceThreshold: 0,
  deckId: 'std',
  ips: ['192.0.2.1'],
  techPrefix: null,
};

/** An admitted call to the UK at 2 cents a minute, billed 60/60, with its seed. */
export const admittedCall: AdmittedCall = {
  callId: 'c1',
  account: { id: 'acme', type: 'prepaid', ips: ['192.0.2.1'], techPrefix: null, deckId: 'd1', taxExempt: false },
  destination: '442071234567',
  rate: { prefix: '44', ratePerMinMicros: 20_000, firstIncrement: 60, nextIncrement: 60, connectFeeMicros: 0 },
  reservation: 60_000,
  seed: {
    sipCallId: 's1', accountId: 'acme', from: '15550000001', to: '442071234567', srcIp: '192.0.2.1', invitedAt: 0,
    prefix: '44', ratePerMin: 20_000, connectFee: 0, firstIncrement: 60, nextIncrement: 60, taxExempt: false,
  },
  leaseExpiryMs: 0,
};

let sourceSeq = 0;

/**
 * Source addresses no other account of the process holds: an address and a /24 block, both fresh on every call.
 * Accounts may not share an address without distinct tech prefixes, so a fixture that many tests create
 * accounts from takes its `ips` from here (as a getter: each spread of the fixture reads fresh ones).
 */
export function freshSourceIps(): string[] {
  const n = ++sourceSeq;
  return [`10.${(n >> 8) & 255}.${n & 255}.10`, `100.${64 + ((n >> 8) & 63)}.${n & 255}.0/24`];
}
