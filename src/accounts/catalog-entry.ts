/** The catalog entry of an account, written as JSON into the catalog hash whenever the account is put. */
import type { CatalogEntry } from '../model/index.js';
import { isTaxExempt, type AccountSettings } from './settings.js';

export type { CatalogEntry };

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
