/**
 * Failed SFTP logins per remote address: each failure makes the next rejection wait longer (250 ms, then
 * doubling, at most 4 s), and `maxFailures` failures within `windowMs` lock the address out for `lockMs`,
 * during which its logins are refused without their credentials being looked at. A success clears the
 * address. Pure: time comes from the injected clock.
 *
 * Memory is bounded: at most `maxTracked` addresses are held, and the one touched longest ago is dropped
 * first. Each holds at most `maxFailures` timestamps.
 */

export interface LockoutOptions {
  /** Failures within windowMs that lock the address out. */
  maxFailures: number;
  windowMs: number;
  lockMs: number;
  /** Most addresses held at once. */
  maxTracked: number;
  now: () => number;
}

export interface LockoutCheck {
  /** False while the address is locked out: refuse without checking credentials. */
  allowed: boolean;
  /** How long to hold back a rejection of this address: rises with its recent failures. */
  delayMs: number;
}

export const LOCKOUT_DEFAULTS: Readonly<LockoutOptions> = Object.freeze({
  maxFailures: 5,
  windowMs: 15 * 60_000,
  lockMs: 15 * 60_000,
  maxTracked: 10_000,
  now: () => Date.now(),
});

const FIRST_DELAY_MS = 250;
export const MAX_DELAY_MS = 4_000;

interface AddressState {
  /** Times of the failures within the window, oldest first. */
  failures: number[];
  /** Locked out until this time (0: not locked). */
  lockedUntil: number;
}

/** The back-off after `failures` recent failures: 0, then 250 ms doubling per failure, at most 4 s. */
export function loginBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(failures - 1, 16));
}

export class LoginLockout {
  readonly #options: LockoutOptions;
  readonly #addresses = new Map<string, AddressState>();

  constructor(options: Partial<LockoutOptions> = {}) {
    const merged = { ...LOCKOUT_DEFAULTS, ...options };
    for (const name of ['maxFailures', 'maxTracked'] as const) {
      if (!Number.isInteger(merged[name]) || merged[name] < 1) throw new RangeError(`${name} must be a whole number of at least 1`);
    }
    for (const name of ['windowMs', 'lockMs'] as const) {
      if (!Number.isFinite(merged[name]) || merged[name] < 0) throw new RangeError(`${name} must be a number of milliseconds, not negative`);
    }
    this.#options = merged;
  }

  /** How many addresses are held (for tests and stats). */
  get size(): number {
    return this.#addresses.size;
  }

  check(address: string): LockoutCheck {
    const now = this.#options.now();
    const state = this.#current(address, now);
    if (!state) return { allowed: true, delayMs: 0 };
    if (state.lockedUntil > now) return { allowed: false, delayMs: MAX_DELAY_MS };
    return { allowed: true, delayMs: loginBackoffMs(state.failures.length) };
  }

  /** Records a failed login; `lockedNow` is true only for the failure that locks the address out. */
  fail(address: string): { lockedNow: boolean } {
    const now = this.#options.now();
    const state = this.#current(address, now) ?? { failures: [], lockedUntil: 0 };
    this.#touch(address, state);
    if (state.lockedUntil > now) return { lockedNow: false };
    state.failures.push(now);
    if (state.failures.length < this.#options.maxFailures) return { lockedNow: false };
    state.failures = [];
    state.lockedUntil = now + this.#options.lockMs;
    return { lockedNow: true };
  }

  /** A login succeeded: the address's failures are forgotten. */
  succeed(address: string): void {
    this.#addresses.delete(address);
  }

  /** The address's state with the failures older than the window and an expired lock dropped; undefined when nothing is left. */
  #current(address: string, now: number): AddressState | undefined {
    const state = this.#addresses.get(address);
    if (!state) return undefined;
    if (state.lockedUntil !== 0 && state.lockedUntil <= now) state.lockedUntil = 0;
    const since = now - this.#options.windowMs;
    let drop = 0;
    while (drop < state.failures.length && (state.failures[drop] ?? 0) <= since) drop++;
    if (drop > 0) state.failures.splice(0, drop);
    if (state.failures.length === 0 && state.lockedUntil === 0) {
      this.#addresses.delete(address);
      return undefined;
    }
    return state;
  }

  /** Makes the address the most recently touched one, dropping the least recently touched past maxTracked. */
  #touch(address: string, state: AddressState): void {
    this.#addresses.delete(address);
    this.#addresses.set(address, state);
    while (this.#addresses.size > this.#options.maxTracked) {
      const oldest = this.#addresses.keys().next();
      if (oldest.done) break;
      this.#addresses.delete(oldest.value);
    }
  }
}
