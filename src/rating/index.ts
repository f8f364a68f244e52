export * from './money.js';
export {
  MAX_INCREMENT_SECONDS,
  MAX_PREFIX_DIGITS,
  MIN_INCREMENT_SECONDS,
  type Rate,
  type RateDeck,
  type RateDeckProblem,
} from './deck-model.js';
export { MAX_REPORTED_PROBLEMS, RateDeckError } from './deck-problems.js';
export { rateProblems } from './rate-validation.js';
export { buildRateDeck } from './deck.js';
export { parseRateDeckCsv } from './deck-csv.js';
export { deserializeRateDeck, serializeRateDeck } from './deck-codec.js';
export {
  DEFAULT_PAID_TALK_LIMIT_SECONDS,
  RatingError,
  billedSeconds,
  paidTalkMs,
  priceCall,
  priceTalk,
  reservationFor,
  roundHalfUp,
  type PaidTalkInput,
  type Price,
  type PriceCallInput,
  type PriceTalkInput,
  type ReservationInput,
  type TalkPrice,
  type TaxAmount,
  type TaxComponent,
} from './price.js';
