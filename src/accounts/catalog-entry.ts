/** The catalog entry of an account, written as JSON into the catalog hash whenever the account is put. */
import { ID_PATTERN } from '../config/schema.js';
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

/** A catalog entry from its JSON, or undefined when it is not one. */
export function parseCatalogEntry(json: string): CatalogEntry | undefined {
  try {
    const e = JSON.parse(json) as CatalogEntry;
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || !ID_PATTERN.test(e.id) || !Array.isArray(e.ips) || typeof e.deckId !== 'string') return undefined;
    return e;
  } catch {
    return undefined;
  }
}
