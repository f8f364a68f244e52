import type { RateDeckProblem } from '../rating/deck-model.js';

/**
 * Errors of the account and rate deck operations. Each carries a stable `code` that the CLI and the admin
 * API map to exit codes and HTTP statuses; callers branch on the class or the code, never on the message.
 */
export abstract class AccountsError extends Error {
  abstract readonly code: string;
}

/** The request was refused as a whole, and nothing was written. `problems` lists every reason at once. */
export class ValidationError extends AccountsError {
  override readonly name = 'ValidationError';
  readonly code = 'invalid_request';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid request: ${problems.join('; ')}`);
    this.problems = Object.freeze([...problems]);
  }
}

export class AccountNotFoundError extends AccountsError {
  override readonly name = 'AccountNotFoundError';
  readonly code = 'account_not_found';
  constructor(readonly accountId: string) {
    super(`account ${JSON.stringify(accountId)} does not exist`);
  }
}

/** A create was asked for an id that is already taken (use an update to change it). */
export class AccountExistsError extends AccountsError {
  override readonly name = 'AccountExistsError';
  readonly code = 'account_exists';
  constructor(readonly accountId: string) {
    super(`account ${JSON.stringify(accountId)} already exists (update it instead)`);
  }
}

/**
 * A payment id was reused for another amount within the retention window: a client bug, not a retry. The
 * first payment stands, and nothing changed.
 */
export class PaymentConflictError extends AccountsError {
  override readonly name = 'PaymentConflictError';
  readonly code = 'payment_conflict';
  constructor(
    readonly accountId: string,
    readonly paymentId: string,
    /** The amount the id was first applied for, micro-dollars. */
    readonly appliedAmount: number,
    /** The amount this request asked for, micro-dollars. */
    readonly requestedAmount: number,
    message: string,
  ) {
    super(message);
  }
}

/** Another account write held the catalog lock for too long: nothing was written, and a retry is safe. */
export class CatalogBusyError extends AccountsError {
  override readonly name = 'CatalogBusyError';
  readonly code = 'catalog_busy';
}

export class DeckNotFoundError extends AccountsError {
  override readonly name = 'DeckNotFoundError';
  readonly code = 'deck_not_found';
  constructor(readonly deckId: string) {
    super(`rate deck ${JSON.stringify(deckId)} is not loaded`);
  }
}

/** A rate deck CSV was refused; nothing was stored. `problems` carries the CSV line of each problem. */
export class RateDeckInvalidError extends AccountsError {
  override readonly name = 'RateDeckInvalidError';
  readonly code = 'ratedeck_invalid';
  readonly problems: readonly RateDeckProblem[];
  constructor(
    readonly deckId: string,
    problems: readonly RateDeckProblem[],
    /** How many problems the file had in all; `problems` may keep only the first ones. */
    readonly problemCount: number = problems.length,
    message?: string,
  ) {
    super(message ?? `rate deck ${JSON.stringify(deckId)} is invalid: ${problems.map((p) => `line ${p.line}: ${p.message}`).join('; ')}`);
    this.problems = problems;
  }
}

export type AccountsErrorCode =
  | 'invalid_request'
  | 'account_not_found'
  | 'account_exists'
  | 'payment_conflict'
  | 'catalog_busy'
  | 'deck_not_found'
  | 'ratedeck_invalid';
