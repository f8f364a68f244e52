import { describe, expect, it } from 'vitest';
import { LoginLockout, loginBackoffMs, MAX_DELAY_MS } from './lockout.js';

const MINUTE = 60_000;

function clocked(options: ConstructorParameters<typeof LoginLockout>[0] = {}) {
  let t = 1_000_000;
  const lockout = new LoginLockout({ now: () => t, ...options });
  return { lockout, advance: (ms: number) => (t += ms) };
}

describe('login back-off', () => {
  it('is 0 before any failure, then 250 ms doubling per failure, at most 4 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50, 5000].map(loginBackoffMs)).toEqual([0, 250, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
  });
});

describe('LoginLockout', () => {
  it('lets a new address in at once', () => {
    const { lockout } = clocked();
    expect(lockout.check('192.0.2.1')).toEqual({ allowed: true, delayMs: 0 });
  });

  it('raises the delay with each failure, then locks out at the fifth within the window', () => {
    const { lockout } = clocked();
    const delays: number[] = [];
    for (let i = 1; i <= 4; i++) {
      expect(lockout.fail('192.0.2.1')).toEqual({ lockedNow: false });
      const check = lockout.check('192.0.2.1');
      expect(check.allowed).toBe(true);
      delays.push(check.delayMs);
    }
    expect(delays).toEqual([250, 500, 1000, 2000]);
    expect(lockout.fail('192.0.2.1')).toEqual({ lockedNow: true });
    expect(lockout.check('192.0.2.1')).toEqual({ allowed: false, delayMs: MAX_DELAY_MS });
  });

  it('reports the lock once: failures while locked neither re-lock nor extend it', () => {
    const { lockout, advance } = clocked();
    for (let i = 0; i < 5; i++) lockout.fail('a');
    advance(14 * MINUTE);
    expect(lockout.fail('a')).toEqual({ lockedNow: false });
    expect(lockout.check('a').allowed).toBe(false);
    advance(MINUTE);
    expect(lockout.check('a')).toEqual({ allowed: true, delayMs: 0 });
  });

  it('locks for lockMs, then starts the address afresh', () => {
    const { lockout, advance } = clocked({ lockMs: 10 * MINUTE });
    for (let i = 0; i < 5; i++) lockout.fail('a');
    advance(10 * MINUTE - 1);
    expect(lockout.check('a').allowed).toBe(false);
    advance(1);
    expect(lockout.check('a')).toEqual({ allowed: true, delayMs: 0 });
    expect(lockout.fail('a')).toEqual({ lockedNow: false });
    expect(lockout.check('a').delayMs).toBe(250);
  });

  it('forgets failures older than the window, so slow guessing never locks', () => {
    const { lockout, advance } = clocked({ windowMs: 15 * MINUTE });
    for (let i = 0; i < 20; i++) {
      expect(lockout.fail('a').lockedNow).toBe(false);
      advance(4 * MINUTE);
    }
    // at most 4 failures are within any 15 minutes
    expect(lockout.check('a')).toEqual({ allowed: true, delayMs: 1000 });
  });

  it('counts per address, and a success clears only that address', () => {
    const { lockout } = clocked();
    for (let i = 0; i < 4; i++) lockout.fail('a');
    lockout.fail('b');
    lockout.succeed('a');
    expect(lockout.check('a')).toEqual({ allowed: true, delayMs: 0 });
    expect(lockout.check('b').delayMs).toBe(250);
    for (let i = 0; i < 5; i++) lockout.fail('c');
    expect(lockout.check('c').allowed).toBe(false);
    expect(lockout.check('a').allowed).toBe(true);
  });

  it('follows maxFailures', () => {
    const { lockout } = clocked({ maxFailures: 2 });
    expect(lockout.fail('a').lockedNow).toBe(false);
    expect(lockout.fail('a').lockedNow).toBe(true);
  });

  it('holds at most maxTracked addresses, dropping the one touched longest ago', () => {
    const { lockout } = clocked({ maxTracked: 3 });
    lockout.fail('a');
    lockout.fail('b');
    lockout.fail('c');
    lockout.fail('a'); // a is now the most recent
    lockout.fail('d'); // b goes
    expect(lockout.size).toBe(3);
    expect(lockout.check('b').delayMs).toBe(0);
    expect(lockout.check('a').delayMs).toBe(500);
    expect(lockout.check('c').delayMs).toBe(250);
    expect(lockout.check('d').delayMs).toBe(250);
  });

  it('stays bounded under a flood of addresses, and drops addresses with nothing left to remember', () => {
    const { lockout, advance } = clocked({ maxTracked: 100 });
    for (let i = 0; i < 10_000; i++) lockout.fail(`10.0.${i >> 8}.${i & 255}`);
    expect(lockout.size).toBe(100);
    advance(16 * MINUTE);
    lockout.check('10.0.39.15');
    expect(lockout.size).toBe(99);
  });

  it('refuses options that make no sense', () => {
    expect(() => new LoginLockout({ maxFailures: 0 })).toThrow(RangeError);
    expect(() => new LoginLockout({ maxTracked: 1.5 })).toThrow(RangeError);
    expect(() => new LoginLockout({ lockMs: -1 })).toThrow(RangeError);
  });
});
