/**
 * The change channel (keys.changes): every instance subscribes, and whoever changes shared state publishes
 * `<kind>|<id>` on it. The Lua scripts publish `off|<account>` and `event|<account>` (includes/common.lua,
 * its mirror) and `funds|<account>` (apply-funds-4.lua); src/accounts publishes `catalog|<account>` and
 * `deck|<deck>`; src/traffic publishes `traffic|<account>`. This module is the only TypeScript that knows the format; test/integration/wire-formats.test.ts
 * decodes what each publisher sends.
 */
import { ID_PATTERN } from '../../config/schema.js';

export const CHANGE_KINDS = ['catalog', 'deck', 'off', 'funds', 'event', 'traffic'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface ChangeMessage {
  /** catalog: an account's identification entry changed; deck: a rate deck was loaded; off: an account went
   * OFF; funds: an account was credited; event: an account's event stream has a new entry; traffic: an
   * account's traffic settings or its fraud blocks changed (src/traffic/rules.ts). */
  kind: ChangeKind;
  /** An account id, or a deck id for `deck`. */
  id: string;
}

export function encodeChange(message: ChangeMessage): string {
  return `${message.kind}|${message.id}`;
}

/** The message, or undefined for anything that is not one (a message from a newer version, or garbage). */
export function decodeChange(text: string): ChangeMessage | undefined {
  const sep = text.indexOf('|');
  if (sep < 0) return undefined;
  const kind = text.slice(0, sep);
  const id = text.slice(sep + 1);
  if (!(CHANGE_KINDS as readonly string[]).includes(kind) || !ID_PATTERN.test(id)) return undefined;
  return { kind: kind as ChangeKind, id };
}
