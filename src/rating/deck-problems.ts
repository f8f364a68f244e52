/** How a rejected deck reports what is wrong with it: every problem, with where it is. */
import type { RateDeckProblem } from './deck-model.js';

/** At most this many problems are kept; the count in the message says how many there were in all. */
export const MAX_REPORTED_PROBLEMS = 100;

const MESSAGE_PROBLEMS_SHOWN = 5;

export class RateDeckError extends Error {
  override readonly name = 'RateDeckError';
  readonly deckId: string;
  /** Every problem found, in file order, up to MAX_REPORTED_PROBLEMS. */
  readonly problems: readonly RateDeckProblem[];
  /** How many problems there were, including those not kept. */
  readonly problemCount: number;

  constructor(deckId: string, problems: readonly RateDeckProblem[], problemCount = problems.length, where = 'line') {
    const shown = problems
      .slice(0, MESSAGE_PROBLEMS_SHOWN)
      .map((p) => (p.line > 0 ? `${where} ${p.line}: ${p.message}` : p.message));
    const more = problemCount - shown.length;
    super(
      `${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''} ` +
        `(rate deck ${JSON.stringify(deckId)}: ${problemCount} problem${problemCount === 1 ? '' : 's'})`,
    );
    this.deckId = deckId;
    this.problems = Object.freeze(problems.slice(0, MAX_REPORTED_PROBLEMS).map((p) => Object.freeze({ ...p })));
    this.problemCount = problemCount;
  }
}

/** Collects problems as they are found, keeping the first MAX_REPORTED_PROBLEMS and counting them all. */
export class ProblemList {
  readonly kept: RateDeckProblem[] = [];
  count = 0;
  add(line: number, message: string): void {
    this.count++;
    if (this.kept.length < MAX_REPORTED_PROBLEMS) this.kept.push({ line, message });
  }
}
