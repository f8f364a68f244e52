/** The catalog entry of an account, written as JSON into the catalog hash whenever the account is put. */
import { isTaxExempt, type AccountSettings, type AccountType } from './settings.js';

/** The identification record every instance keeps in memory: enough to map an INVITE to an account. */
export interface CatalogEntry {
  id: string;
  type: AccountType;
  ips: string[];
  techPrefix: string | null;
  deckId: string;
  taxExempt: boolean;
}

export function catalogEntryOf(id: string, settings: AccountSettings): CatalogEntry {
  return {
    id,
    type: settings.type,
    ips: [...settings.ips],
    techPrefix: settings.techPrefix,
    deckId: settings.deckId,
    taxExempt: isTaxExempt(settings),
  };
}
