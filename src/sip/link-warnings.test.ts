import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLinkWarnings } from './link-warnings.js';

function harness() {
  let t = 1_000_000;
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  let counted = 0;
  const w = createLinkWarnings({ logger, now: () => t, onFailure: () => counted++ });
  return { w, lines, counted: () => counted, advance: (ms: number) => void (t += ms) };
}

describe('drachtio link warnings', () => {
  it('warns at the first failure, then at most once a minute, counting every failure', () => {
    const h = harness();
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:9022');
    for (let i = 0; i < 90; i++) {
      h.w.failed(refused); // drachtio-srf retries every 2 s
      h.advance(2_000);
    }
    expect(h.counted()).toBe(90);
    const warnings = h.lines.filter((l) => l.level === 40);
    expect(warnings.map((l) => l.downForMs)).toEqual([0, 60_000, 120_000]);
    expect(warnings[0]).toMatchObject({ msg: 'cannot reach drachtio-server; retrying', failures: 1, err: refused.message });
    expect(warnings[1]).toMatchObject({ msg: 'still cannot reach drachtio-server; retrying', failures: 31, failedSinceLastWarning: 30 });
  });

  it('starts afresh after a connection', () => {
    const h = harness();
    h.w.failed(new Error('x'));
    h.advance(1_000);
    h.w.connected();
    h.advance(1_000);
    h.w.failed(new Error('y'));
    expect(h.lines.map((l) => l.msg)).toEqual(['cannot reach drachtio-server; retrying', 'drachtio-server reachable again', 'cannot reach drachtio-server; retrying']);
    h.w.connected();
    h.w.connected(); // connected with no outage before it says nothing
    expect(h.lines).toHaveLength(4);
  });
});
