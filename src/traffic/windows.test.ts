import { describe, expect, it } from 'vitest';
import { addCounts, countsOfCall, figuresOf, percent, ZERO_COUNTS, type Counts } from './windows.js';
import { unpackCounts, COUNT_ORDER, trafficBuckets } from './buckets.js';

const sum = (cs: Counts[]) => cs.reduce(addCounts, ZERO_COUNTS);
const answered = (talkMs: number, billedSec = Math.ceil(talkMs / 6000) * 6) =>
  countsOfCall({ answered: true, disposition: 'answered', talkMs, billedSec }, 6);
const refused = () => countsOfCall({ answered: false, disposition: 'failed', talkMs: 0, billedSec: 0 }, 6);

describe('the counts of one call', () => {
  it('counts a call under shortCallSeconds as short, and under one second also as zero-second', () => {
    expect(answered(5_999)).toMatchObject({ attempts: 1, answered: 1, userEnds: 1, short: 1, zero: 0 });
    expect(answered(6_000)).toMatchObject({ short: 0, zero: 0 });
    expect(answered(999)).toMatchObject({ short: 1, zero: 1 });
  });
  it('counts an unanswered call as an attempt only, and for NER when the users decided it (busy, no answer, cancelled)', () => {
    for (const d of ['busy', 'unanswered', 'cancelled'] as const) {
      expect(countsOfCall({ answered: false, disposition: d, talkMs: 0, billedSec: 0 }, 6)).toEqual({ ...ZERO_COUNTS, attempts: 1, userEnds: 1 });
    }
    expect(refused()).toEqual({ ...ZERO_COUNTS, attempts: 1 });
  });
  it('never counts negative talk or billed time', () => {
    expect(countsOfCall({ answered: true, disposition: 'answered', talkMs: -5, billedSec: -1 }, 6)).toMatchObject({ talkMs: 0, billedSec: 0, short: 1, zero: 1 });
  });
});

describe('window figures, computed by hand', () => {
  it('120 answered calls of which 30 are under 6 s: a short-call ratio of 25.0%', () => {
    const w = sum([...Array.from({ length: 30 }, () => answered(3_000)), ...Array.from({ length: 90 }, () => answered(120_000))]);
    const f = figuresOf(w, 120);
    expect(f.answered).toBe(120);
    expect(f.short).toBe(30);
    expect(percent(f.shortRatio)).toBe(25);
  });

  it('200 attempts: 100 answered (40 of 2 s, 60 of 90 s), 50 busy or not answered, 50 failed', () => {
    // talk: 40 * 2 s + 60 * 90 s = 80 + 5,400 = 5,480 s over 100 answered = ACD 54.8 s
    const calls = [
      ...Array.from({ length: 40 }, () => answered(2_000)),
      ...Array.from({ length: 60 }, () => answered(90_000)),
      ...Array.from({ length: 25 }, () => countsOfCall({ answered: false, disposition: 'busy', talkMs: 0, billedSec: 0 }, 6)),
      ...Array.from({ length: 25 }, () => countsOfCall({ answered: false, disposition: 'unanswered', talkMs: 0, billedSec: 0 }, 6)),
      ...Array.from({ length: 50 }, refused),
    ];
    const f = figuresOf(sum(calls), 160);
    expect(f.attempts).toBe(200);
    expect(percent(f.asr)).toBe(50); // 100 / 200
    expect(percent(f.ner)).toBe(75); // (100 + 50) / 200
    expect(f.acdSeconds).toBeCloseTo(54.8, 10);
    expect(percent(f.shortRatio)).toBe(40); // 40 / 100
    expect(percent(f.zeroRatio)).toBe(0);
    expect(f.talkMs).toBe(5_480_000);
    expect(f.billedSec).toBe(40 * 6 + 60 * 90);
    expect(f.distinct).toBe(160);
    expect(f.repeats).toBe(40); // 200 attempts to 160 numbers
  });

  it('has no ratio without its denominator, and never more distinct numbers than attempts', () => {
    const f = figuresOf(ZERO_COUNTS, 3);
    expect(f).toMatchObject({ asr: null, ner: null, acdSeconds: null, shortRatio: null, zeroRatio: null, distinct: 0, repeats: 0 });
    const g = figuresOf(sum([refused(), refused()]), 5); // a HyperLogLog may count a little over
    expect(g).toMatchObject({ distinct: 2, repeats: 0, asr: 0 });
  });

  it('rounds percentages to one decimal', () => {
    expect(percent(1 / 3)).toBe(33.3);
    expect(percent(2 / 3)).toBe(66.7);
    expect(percent(null)).toBeNull();
  });
});

describe('buckets', () => {
  it('packs and unpacks counts in the order the Lua scripts add them; garbage counts 0, never negative', () => {
    const c: Counts = { attempts: 7, answered: 5, userEnds: 6, talkMs: 12_345, billedSec: 30, short: 2, zero: 1 };
    expect(unpackCounts(COUNT_ORDER.map((k) => c[k]).join('|'))).toEqual(c);
    expect(unpackCounts('3|x|-4')).toEqual({ ...ZERO_COUNTS, attempts: 3 });
    expect(unpackCounts(undefined)).toEqual(ZERO_COUNTS);
  });
  it('keeps a minute bucket for its hour and a day bucket until the end of the next UTC day', () => {
    const at = Date.UTC(2026, 11, 4, 23, 59, 30);
    const b = trafficBuckets(at);
    expect(b.minute).toBe(Math.floor(at / 60_000));
    expect(b.day).toBe(Math.floor(at / 86_400_000));
    expect(b.minuteTtlS).toBe(65 * 60);
    expect(b.dayTtlS).toBe(86_400 + 30);
  });
});
