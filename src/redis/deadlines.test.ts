import { once } from 'node:events';
import { beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../test/helpers/wait.js';
import { createDeadlines, type Deadlines } from './deadlines.js';

// each test watches its own deadlines: no state carries over from one test to the next
let d: Deadlines;
beforeEach(() => {
  d = createDeadlines();
});

describe('unwrittenCommandDeadline', () => {
  it('hands out its signal through an object spread, as node-redis copies command options', () => {
    const options = d.unwrittenCommandDeadline(1_000);
    const copied = { ...options };
    expect(copied.abortSignal).toBeInstanceOf(AbortSignal);
    expect(copied.abortSignal.aborted).toBe(false);
  });

  it('gives the commands of one millisecond one signal, and later commands a new one', async () => {
    const options = d.unwrittenCommandDeadline(1_000);
    const first = options.abortSignal;
    const t0 = performance.now();
    let same = options.abortSignal;
    // reads within the same millisecond share the signal (read again until the clock moves on)
    while (performance.now() - t0 < 0.5) same = options.abortSignal;
    expect(same).toBe(first);
    await sleep(5); // the scenario: the clock moves on past that millisecond
    expect(options.abortSignal).not.toBe(first);
  });

  it('aborts a signal no sooner than timeoutMs after the last command it was handed to', async () => {
    const timeoutMs = 40;
    const options = d.unwrittenCommandDeadline(timeoutMs);
    const signal = options.abortSignal;
    let lastHandedAt = performance.now();
    // keep handing out the same bucket for as long as the clock allows; each read is timed before it is
    // made, so a pause of this thread after a read (a busy CI machine) cannot make the gap look shorter
    for (;;) {
      const readAt = performance.now();
      if (options.abortSignal !== signal) break;
      lastHandedAt = readAt;
    }
    await once(signal, 'abort');
    expect(performance.now() - lastHandedAt).toBeGreaterThanOrEqual(timeoutMs);
    expect(signal.reason).toBeInstanceOf(Error);
  });

  it('never hands out a signal that is already aborted', async () => {
    const options = d.unwrittenCommandDeadline(10);
    const signal = options.abortSignal;
    await once(signal, 'abort');
    expect(options.abortSignal.aborted).toBe(false);
  });

  it('forgets a bucket whose commands were all written, long before its deadline, without aborting it', async () => {
    // start from no watched deadline (the buckets of the cases above expire within about a second)
    await waitFor('no watched deadline', () => d.inFlight() === 0, { timeoutMs: 3_000, intervalMs: 10 });
    expect(d.inFlight()).toBe(0);
    const options = d.unwrittenCommandDeadline(2_000); // the timer passes every 200 ms
    const first = options.abortSignal;
    const listener = () => {};
    first.addEventListener('abort', listener, { once: true }); // node-redis, for a command not yet written
    await sleep(5); // the scenario: a later millisecond, so a new bucket
    const second = options.abortSignal;
    expect(second).not.toBe(first);
    expect(d.inFlight()).toBe(2);
    await sleep(450); // a window, not a wait: two passes of the timer forget neither bucket
    expect(d.inFlight()).toBe(2); // the first still has a command waiting; the second is handed out
    first.removeEventListener('abort', listener); // node-redis, once it wrote the command
    await waitFor('the written bucket to be forgotten', () => d.inFlight() < 2, { timeoutMs: 2_000, intervalMs: 10 });
    expect(d.inFlight()).toBe(1); // the second is still the current bucket
    expect(first.aborted).toBe(false);
  });

  it('takes one listener per command without a max-listeners warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const options = d.unwrittenCommandDeadline(1_000);
      const signal = options.abortSignal;
      for (let i = 0; i < 100; i++) signal.addEventListener('abort', () => {}, { once: true });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('withinDeadline', () => {
  it('settles as the work does when it is in time', async () => {
    await expect(d.within(1_000, async () => 7, () => new Error('late'))).resolves.toBe(7);
    await expect(d.within(1_000, async () => Promise.reject(new Error('no')), () => new Error('late'))).rejects.toThrow('no');
  });

  it('rejects with the timed-out error once the deadline has passed', async () => {
    const never = new Promise<never>(() => {});
    await expect(d.within(20, () => never, () => new Error('late'))).rejects.toThrow('late');
  });

  it('fails only the calls of a shared bucket that are still waiting, each no sooner than its timeout', async () => {
    const timeoutMs = 40;
    let release!: (v: string) => void;
    const answered = new Promise<string>((resolve) => (release = resolve));
    const never = new Promise<never>(() => {});
    const started = performance.now();
    // issued within the same millisecond: one watched entry
    const before = d.inFlight();
    const late = d.within(timeoutMs, () => never, () => new Error('late 1'));
    const inTime = d.within(timeoutMs, () => answered, () => new Error('late 2'));
    const late2 = d.within(timeoutMs, () => never, () => new Error('late 3'));
    if (performance.now() - started < 1) expect(d.inFlight()).toBe(before + 1);
    release('ok');
    await expect(inTime).resolves.toBe('ok');
    await expect(late).rejects.toThrow('late 1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(timeoutMs);
    await expect(late2).rejects.toThrow('late 3');
  });

  it('forgets the calls that all settled long before their deadline', async () => {
    await waitFor('no watched deadline', () => d.inFlight() === 0, { timeoutMs: 3_000, intervalMs: 10 });
    expect(d.inFlight()).toBe(0);
    // 2 s: the timer passes every 200 ms; the deadline is far away
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => d.within(2_000, async () => i, () => new Error('late'))));
    expect(results[49]).toBe(49);
    expect(d.inFlight()).toBeGreaterThan(0);
    await waitFor('the settled calls to be forgotten', () => d.inFlight() === 0, { timeoutMs: 2_000, intervalMs: 10 });
    expect(d.inFlight()).toBe(0);
  });

  it('a call that throws before returning a promise is failed with that error', async () => {
    const boom = () => {
      throw new Error('boom');
    };
    await expect(d.within(1_000, boom, () => new Error('late'))).rejects.toThrow('boom');
  });

  it('hands a value that arrives after the deadline to onLate, and only then', async () => {
    let answer!: (v: number) => void;
    const late: number[] = [];
    const slow = d.within(20, () => new Promise<number>((r) => (answer = r)), () => new Error('late'), { onLate: (v) => late.push(v) });
    await expect(slow).rejects.toThrow('late');
    answer(5);
    await Promise.resolve();
    expect(late).toEqual([5]);
    const quick: number[] = [];
    await expect(d.within(1_000, async () => 6, () => new Error('late'), { onLate: (v) => quick.push(v) })).resolves.toBe(6);
    expect(quick).toEqual([]);
  });

  it('keeps the deadlines of two owners apart', async () => {
    const other = createDeadlines();
    const never = new Promise<never>(() => {});
    const pending = other.within(20, () => never, () => new Error('late'));
    expect(other.inFlight()).toBe(1);
    expect(d.inFlight()).toBe(0);
    await expect(pending).rejects.toThrow('late');
  });

  it('with a long timeout, forgets a bucket as soon as its last call settles, not a tenth of the timeout later', async () => {
    await waitFor('no watched deadline', () => d.inFlight() === 0, { timeoutMs: 3_000, intervalMs: 10 });
    expect(d.inFlight()).toBe(0);
    let release!: () => void;
    const answered = new Promise<void>((resolve) => (release = resolve));
    // 60 s: the timer passes only every 6 s
    const calls = Array.from({ length: 10 }, () => d.within(60_000, () => answered, () => new Error('late')));
    expect(d.inFlight()).toBeGreaterThan(0);
    await sleep(5); // the scenario: a later millisecond, so no call can join those buckets any more
    release();
    await Promise.all(calls);
    expect(d.inFlight()).toBe(0);
  });
});

