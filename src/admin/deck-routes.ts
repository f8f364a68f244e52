/**
 * GET /v1/ratedecks/:deckId/rates: a loaded deck's version, its prefix count and its rates, optionally only
 * the prefixes that start with `?prefix=`, a page at a time. Read-only; the deck is read as every instance
 * reads it (the stored JSON, decoded by deck-codec), so what is shown is what calls are rated on.
 */
import type { FastifyInstance } from 'fastify';
import { DeckNotFoundError, ValidationError } from '../accounts/errors.js';
import { idProblem, wholeNumber } from '../accounts/input-parsers.js';
import { deserializeRateDeck } from '../rating/deck-codec.js';
import { formatUsd } from '../rating/money.js';
import type { RouteContext } from './context.js';

/** Most rates in one answer (and its default). */
export const DECK_RATES_MAX = 10_000;

const text = { type: 'string' } as const;
const integer = { type: 'integer' } as const;

const ratesSchema = {
  params: {
    type: 'object',
    required: ['deckId'],
    additionalProperties: false,
    properties: { deckId: { ...text, description: '[A-Za-z0-9_.-]{1,64}' } },
  },
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      prefix: { ...text, description: 'only rates whose prefix starts with these digits' },
      limit: { ...text, description: `whole number 1-${DECK_RATES_MAX} (default ${DECK_RATES_MAX})` },
      offset: { ...text, description: 'whole number (default 0): matching rates skipped, in prefix order' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        deckId: text,
        version: text,
        prefixes: { ...integer, description: 'rates in the whole deck' },
        prefix: { type: ['string', 'null'] },
        matched: { ...integer, description: 'rates matching ?prefix=' },
        offset: integer,
        limit: integer,
        rates: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              prefix: text,
              ratePerMin: integer,
              ratePerMinUsd: text,
              firstIncrement: integer,
              nextIncrement: integer,
              connectFee: integer,
              connectFeeUsd: text,
            },
          },
        },
      },
    },
  },
} as const;

const ratesLimit = wholeNumber(1, DECK_RATES_MAX);
const ratesOffset = wholeNumber(0, 1_000_000_000);

export function registerDeckRoutes(api: FastifyInstance, ctx: RouteContext): void {
  const { redis, keys, bounded } = ctx;

  api.get<{ Params: { deckId: string }; Querystring: { prefix?: string; limit?: string; offset?: string } }>(
    '/ratedecks/:deckId/rates',
    { schema: ratesSchema },
    async (request) => {
      const { deckId } = request.params;
      const { prefix } = request.query;
      const limit = ratesLimit.safeParse(request.query.limit ?? DECK_RATES_MAX);
      const offset = ratesOffset.safeParse(request.query.offset ?? 0);
      const problems = [
        idProblem(deckId, 'deckId'),
        prefix !== undefined && !/^[0-9]{1,20}$/.test(prefix) ? `prefix: must be 1-20 digits, got ${JSON.stringify(prefix.slice(0, 40))}` : undefined,
        ...(limit.success ? [] : limit.error.issues.map((i) => `limit: ${i.message}`)),
        ...(offset.success ? [] : offset.error.issues.map((i) => `offset: ${i.message}`)),
      ].filter((p): p is string => p !== undefined);
      if (problems.length > 0) throw new ValidationError(problems);

      const [version, stored] = await bounded(() => Promise.all([redis.hGet(keys.deckIndex, deckId), redis.get(keys.deck(deckId))]));
      if (version === null || version === undefined || stored === null || stored === undefined) throw new DeckNotFoundError(deckId);
      const deck = deserializeRateDeck(deckId, String(stored));
      const matching = deck.rates
        .filter((r) => prefix === undefined || r.prefix.startsWith(prefix))
        .sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
      const page = matching.slice(offset.data!, offset.data! + limit.data!);
      return {
        deckId,
        version: String(version),
        prefixes: deck.rates.length,
        prefix: prefix ?? null,
        matched: matching.length,
        offset: offset.data!,
        limit: limit.data!,
        rates: page.map((r) => ({
          prefix: r.prefix,
          ratePerMin: r.ratePerMinMicros,
          ratePerMinUsd: formatUsd(r.ratePerMinMicros),
          firstIncrement: r.firstIncrement,
          nextIncrement: r.nextIncrement,
          connectFee: r.connectFeeMicros,
          connectFeeUsd: formatUsd(r.connectFeeMicros),
        })),
      };
    },
  );
}
