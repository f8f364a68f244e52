/**
 * GET /v1/accounts/:id/payments/latest: the last payment applied to an account (amount, time, id), or null.
 * Read-only; payments are applied by POST /v1/accounts/:id/payments (account-routes.ts).
 */
import type { FastifyInstance } from 'fastify';
import { AccountNotFoundError, ValidationError } from '../accounts/errors.js';
import { idProblem } from '../accounts/input-parsers.js';
import { readLatestPayment } from './account-view.js';
import type { RouteContext } from './context.js';

const text = { type: 'string' } as const;

const latestPaymentSchema = {
  params: {
    type: 'object',
    required: ['id'],
    additionalProperties: false,
    properties: { id: { ...text, description: '[A-Za-z0-9_.-]{1,64}' } },
  },
  querystring: { type: 'object', additionalProperties: false, properties: {} },
  response: {
    200: {
      type: 'object',
      properties: {
        accountId: text,
        latest: {
          type: ['object', 'null'],
          properties: { paymentId: text, amount: { type: 'integer' }, amountUsd: text, at: text },
        },
      },
    },
  },
} as const;

export function registerPaymentRoutes(api: FastifyInstance, ctx: RouteContext): void {
  const { redis, keys, bounded } = ctx;
  api.get<{ Params: { id: string } }>('/accounts/:id/payments/latest', { schema: latestPaymentSchema }, async (request) => {
    const { id } = request.params;
    const bad = idProblem(id);
    if (bad) throw new ValidationError([bad]);
    const [exists, latest] = await bounded(() => Promise.all([redis.exists(keys.account(id)), readLatestPayment(redis, keys, id)]));
    if (!exists) throw new AccountNotFoundError(id);
    return { accountId: id, latest };
  });
}
