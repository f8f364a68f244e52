import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CALL_END_RULES, outcomeOf, type CallEnd, type CallEndKind } from './call-end.js';
import { CDR_DISPOSITIONS } from './call.js';
import { REJECT_REASONS } from './refusal.js';

/** Every end of every kind, with the parameters that change its outcome (the switch's code, who hung up). */
const ENDS: Record<CallEndKind, CallEnd[]> = {
  bye: [{ kind: 'bye', by: 'caller' }, { kind: 'bye', by: 'callee' }],
  cancel: [{ kind: 'cancel' }],
  upstream_failure: [400, 403, 404, 408, 480, 486, 487, 500, 502, 503, 600, 603].map((sipCode) => ({ kind: 'upstream_failure', sipCode })),
  link_lost: [{ kind: 'link_lost' }],
  shutdown: [{ kind: 'shutdown' }],
  funds: [{ kind: 'funds' }],
  account_off: [{ kind: 'account_off' }],
  lease_lost: [{ kind: 'lease_lost' }],
  max_duration: [{ kind: 'max_duration' }],
  admission_timeout: [{ kind: 'admission_timeout', sipCode: 503 }],
};

/** `disposition/reason` for every pair the README's CDR table lists. */
function readmePairs(): Set<string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## CDRs'), readme.indexOf('\n## ', readme.indexOf('## CDRs') + 1));
  const pairs = new Set<string>();
  for (const line of section.split('\n')) {
    const cells = line.trim().split('|').map((c) => c.trim());
    if (cells.length < 4 || !/^`[a-z_]+`$/.test(cells[1]!)) continue;
    const disposition = cells[1]!.slice(1, -1);
    for (const m of cells[2]!.matchAll(/`([a-z_]+)`/g)) pairs.add(`${disposition}/${m[1]}`);
  }
  return pairs;
}

describe('the README lists every CDR disposition and reason callgate writes', () => {
  it('matches CALL_END_RULES and the refusal reasons, both ways', () => {
    const written = new Set<string>();
    for (const kind of Object.keys(CALL_END_RULES) as CallEndKind[]) {
      for (const end of ENDS[kind]) {
        for (const answered of [false, true]) {
          const { disposition, reason } = outcomeOf(end, answered);
          written.add(`${disposition}/${reason}`);
        }
      }
    }
    for (const reason of REJECT_REASONS) written.add(`rejected/${reason}`);
    const listed = readmePairs();
    expect([...written].filter((p) => !listed.has(p)).sort(), 'written but not in the README').toEqual([]);
    expect([...listed].filter((p) => !written.has(p)).sort(), 'in the README but never written').toEqual([]);
    const dispositions = new Set([...listed].map((p) => p.split('/')[0]));
    expect(CDR_DISPOSITIONS.filter((d) => !dispositions.has(d))).toEqual([]);
  });
});
