import { describe, expect, it } from 'vitest';
import { renderTop, type LiveSnapshot } from './top.js';

const row = (accountId: string, total: number) => ({
  accountId, name: '', status: 'on', offReason: null, balanceUsd: '10.000000', availableUsd: '9.000000',
  channels: { limitPerSwitch: 10, total, thisSwitch: total }, cps: { limit: 5, recent: 0.3 }, burn: { perHourUsd: '1.200000' },
  depletion: { secondsToDepletion: 27_000, depletesAt: '2026-12-03T20:30:00.000Z' },
});

const live: LiveSnapshot = {
  switchId: 'sw1',
  at: '2026-12-03T13:00:00.000Z',
  refreshSeconds: 3,
  accounts: { total: 3, liveCalls: 6, cpsWindowSeconds: 10, rows: [row('big', 4), row('mid', 2), row('idle', 0)] },
  series: {
    windowSeconds: 600,
    reasons: [{ reason: 'cps_exceeded', label: 'CPS exceeded' }, { reason: 'no_rate', label: 'No rate for destination' }],
    totals: { admitted: 12, rejected: { cps_exceeded: 2, no_rate: 0 } },
  },
};

describe('renderTop', () => {
  it('draws the header, then accounts in the order the API ranked them', () => {
    const lines = renderTop(live, { columns: 200, rows: 20 });
    expect(lines[0]).toBe('callgate top: switch sw1, 2026-12-03T13:00:00Z, every 3 s, q quits');
    expect(lines[1]).toBe('accounts 3, live calls 6 on all switches');
    expect(lines[2]).toBe('last 10 min on this instance: 12 admitted, 2 refused (CPS exceeded 2)');
    expect(lines[4]).toMatch(/^ACCOUNT\s+STATUS\s+LIVE\s+HERE\/LIMIT/);
    expect(lines.slice(5).map((l) => l.split(/\s+/)[0])).toEqual(['big', 'mid', 'idle']);
    expect(lines[5]).toMatch(/^big\s+on\s+4\s+4\/10\s+0\.3\/5\s+10\.000000\s+9\.000000\s+1\.200000\s+in 7h 30m$/);
  });

  it('fits the terminal: no line wider than it, no more lines than it has, and says what is left out', () => {
    const lines = renderTop(live, { columns: 40, rows: 7 });
    expect(lines.length).toBeLessThanOrEqual(7);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
    expect(lines.at(-1)).toMatch(/^\.\.\. 2 more accounts/);
  });

  it('shows why the last refresh failed beside the time of the data it still shows', () => {
    expect(renderTop(live, { columns: 200, rows: 20 }, 'refresh failed, retrying: x')[0]).toContain('| refresh failed, retrying: x');
  });
});
