import { describe, expect, it } from 'vitest';
import { targetsFor } from './channel.js';

describe('which targets an event goes to', () => {
  const targets = [
    { id: 'all' },
    { id: 'billing', events: ['low_balance', 'call_torn_down'] },
    { id: 'status', events: ['status_changed'] },
  ];

  it('sends every type to a target without a list, and a listed type only to the targets that list it, in order', () => {
    expect(targetsFor(targets, 'low_balance').map((t) => t.id)).toEqual(['all', 'billing']);
    expect(targetsFor(targets, 'status_changed').map((t) => t.id)).toEqual(['all', 'status']);
  });

  it('sends a type nobody lists only to the targets that take all', () => {
    expect(targetsFor(targets, 'new_kind').map((t) => t.id)).toEqual(['all']);
    expect(targetsFor(targets.slice(1), 'new_kind')).toEqual([]);
  });
});
