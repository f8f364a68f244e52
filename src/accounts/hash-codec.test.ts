import { describe, expect, it } from 'vitest';
import { baseSettings } from '../../test/helpers/fixtures.js';
import { limitsArgs } from '../redis/codecs/account-hash.js';
import { accountFromHash, toAccountPut } from './hash-codec.js';
import type { AccountSettings } from './settings.js';

const base = baseSettings;

describe('account hash round trip', () => {
  it('reads back what put writes, with the money figures of the view', () => {
    const settings: AccountSettings = { ...base, type: 'postpaid', creditLimit: 5_000_000, techPrefix: '99#', deckId: 'd1' };
    const { limits, fields } = toAccountPut(settings, new Date(0));
    const hash = {
      ...fields,
      limits: limitsArgs(limits).join('|'),
      state: 'on||-1500000|200000|||1',
    };
    const a = accountFromHash('acme', hash);
    expect(a).toMatchObject({ ...settings, id: 'acme', balance: -1_500_000, reserved: 200_000, available: 3_300_000, owed: 1_500_000 });
    expect(a.updatedAt).toBe('1970-01-01T00:00:00.000Z');
    expect(a.taxExempt).toBe(false);
  });
});
