/** The soak's rate deck and accounts: one account per traffic outcome, and four that run out of money. */
import type { AccountService } from '../../src/accounts/service.js';

/** Four small-balance accounts at $6/min, topped up while their calls run (see topups.ts). */
export const DEPLETION = {
  accounts: ['dep1', 'dep2', 'dep3', 'dep4'],
  channels: 12,
  // longer than one reservation unit (30 s), so that a call needs its reservation extended mid-call
  holdMs: 75_000,
} as const;

export interface AccountSpec {
  /** The account's tech prefix: the soak dials `<prefix><number>`. */
  prefix: string;
  input: Record<string, unknown>;
  funds?: string;
  off?: boolean;
}

export interface SoakAccounts {
  specs: Record<string, AccountSpec>;
  /** The CPS limit of the cpsl account: a third of what its class sends. */
  cpsLimit: number;
  /** The R-URI user that reaches `number` as account `id`. */
  dial(id: string, number: string): string;
}

/** Loads the soak deck and creates every account with its funds and status; `cps` is the soak's total rate. */
export async function setUpAccounts(accounts: AccountService, cps: number): Promise<SoakAccounts> {
  await accounts.loadRateDeck(
    'soak',
    [
      'prefix,rate_per_min,first_increment,next_increment,connect_fee',
      '44,0.012345,6,6,0.001', // answered, long, cancel, cps
      '4477,20,6,6,', // premium: a first reservation ($10) above the thin account's $5
      '4478,6,1,1,', // $0.10 a second, per second: mid-call depletion
      '',
    ].join('\n'),
  );

  const cpsSent = cps * 0.1;
  const cpsLimit = Math.max(1, Math.floor(cpsSent / 3));
  const base = { type: 'prepaid', channels: 100_000, cps: 10_000, billingCountry: 'US', deckId: 'soak', ips: ['127.0.0.1'] } as const;
  const specs: Record<string, AccountSpec> = {
    ans: { prefix: '9101', input: { ...base, fusfOnFile: false }, funds: '1000000' },
    long: { prefix: '9102', input: { ...base, billingCountry: 'GB' }, funds: '1000000' },
    cxl: { prefix: '9103', input: base, funds: '1000' },
    cpsl: { prefix: '9104', input: { ...base, cps: cpsLimit, burst: cpsLimit }, funds: '1000000' },
    offman: { prefix: '9105', input: base, funds: '100', off: true },
    broke: { prefix: '9106', input: base },
    thin: { prefix: '9107', input: base, funds: '5' },
    chanl: { prefix: '9108', input: { ...base, channels: 5 }, funds: '1000000' },
    ...Object.fromEntries(
      DEPLETION.accounts.map((id, i) => [
        id,
        { prefix: `920${i + 1}`, input: { ...base, channels: DEPLETION.channels, billingCountry: i % 2 === 0 ? 'US' : 'GB', lowBalanceThreshold: '2' }, funds: '5' },
      ]),
    ),
  };
  for (const [id, s] of Object.entries(specs)) {
    await accounts.putAccount(id, { ...s.input, techPrefix: s.prefix }, { mode: 'create' });
    if (s.funds) await accounts.applyFunds(id, s.funds, `soak-seed-${id}`);
    if (s.off) await accounts.setStatus(id, 'off', 'soak: manual OFF');
  }
  return { specs, cpsLimit, dial: (id, number) => `${specs[id]!.prefix}${number}` };
}
