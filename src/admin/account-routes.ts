/**
 * /v1/accounts and /v1/ratedecks: thin HTTP over the account service. Every value is handed to the service
 * as received; the service checks it (the same code the CLI runs), writes nothing when anything is wrong,
 * and its named errors become the API's error codes in errors.ts.
 */
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../accounts/errors.js';
import { accountToJson, type Account } from '../accounts/account.js';
import { formatUsd } from '../rating/money.js';
import type { RouteContext } from './context.js';
import { schemas } from './schemas.js';

type Fields = Record<string, unknown>;
type IdParams = { Params: { id: string } };

const CSV_TYPES = ['text/csv', 'application/csv'];

/** The payment's amount is `amountUsd` in the API and `amount` in the service: name problems as the client sent them. */
function asApiPaymentProblems(err: unknown): unknown {
  if (!(err instanceof ValidationError)) return err;
  return new ValidationError(err.problems.map((p) => (p.startsWith('amount:') ? `amountUsd:${p.slice('amount:'.length)}` : p)));
}

export function registerAccountRoutes(api: FastifyInstance, ctx: RouteContext, options: { csvBodyLimit: number }): void {
  const { accounts, bounded } = ctx;
  const json = (a: Account) => accountToJson(a);

  api.post<{ Body: Fields & { id: string } }>('/accounts', { schema: schemas.createAccount }, async (request, reply) => {
    const { id, ...fields } = request.body;
    const r = await bounded(() => accounts.putAccount(id, fields, { mode: 'create' }));
    return reply.code(201).header('location', `/v1/accounts/${encodeURIComponent(id)}`).send(json(r.account));
  });

  api.put<IdParams & { Body: Fields }>('/accounts/:id', { schema: schemas.putAccount }, async (request, reply) => {
    const r = await bounded(() => accounts.putAccount(request.params.id, request.body, { mode: 'upsert' }));
    return reply.code(r.created ? 201 : 200).send(json(r.account));
  });

  api.patch<IdParams & { Body: Fields }>('/accounts/:id', { schema: schemas.patchAccount }, async (request) => {
    const r = await bounded(() => accounts.putAccount(request.params.id, request.body, { mode: 'update' }));
    return json(r.account);
  });

  api.get<IdParams>('/accounts/:id', { schema: schemas.getAccount }, async (request) => {
    return json(await bounded(() => accounts.getAccount(request.params.id)));
  });

  api.get<{ Querystring: { cursor?: string; limit?: string } }>('/accounts', { schema: schemas.listAccounts }, async (request) => {
    const page = await bounded(() => accounts.listAccounts({ cursor: request.query.cursor, limit: request.query.limit }));
    return { ids: page.ids, nextCursor: page.cursor === '0' ? null : page.cursor };
  });

  api.put<IdParams & { Body: Fields }>('/accounts/:id/limits', { schema: schemas.setLimits }, async (request) => {
    return json(await bounded(() => accounts.setLimits(request.params.id, request.body)));
  });

  api.put<IdParams & { Body: { status: string; note?: string } }>('/accounts/:id/status', { schema: schemas.setStatus }, async (request) => {
    // OFF needs nothing more here: the script publishes off|<id>, and every instance tears the account's calls down
    return json(await bounded(() => accounts.setStatus(request.params.id, request.body.status, request.body.note)));
  });

  api.post<IdParams & { Body: { amountUsd: string; paymentId: string } }>(
    '/accounts/:id/payments',
    { schema: schemas.applyPayment },
    async (request, reply) => {
      const { id } = request.params;
      const { amountUsd, paymentId } = request.body;
      // the service refuses a reused id with another amount (409 payment_conflict): every entry point gets that rule
      const r = await bounded(() =>
        accounts.applyFunds(id, amountUsd, paymentId).catch((err: unknown) => {
          throw asApiPaymentProblems(err);
        }),
      );
      return reply.code(r.outcome === 'applied' ? 201 : 200).send({
        outcome: r.outcome,
        paymentId: r.paymentId,
        amount: r.amount,
        amountUsd: formatUsd(r.amount),
        account: json(r.account),
      });
    },
  );

  // The CSV upload gets its own parser and body limit; JSON is not accepted here (415), and CSV nowhere else.
  api.register(async (decks) => {
    decks.removeAllContentTypeParsers();
    decks.addContentTypeParser(CSV_TYPES, { parseAs: 'string', bodyLimit: options.csvBodyLimit }, (_request, body, done) => done(null, body));
    decks.put<{ Params: { deckId: string }; Body: string }>('/ratedecks/:deckId', { schema: schemas.loadRateDeck }, async (request) => {
      return bounded(() => accounts.loadRateDeck(request.params.deckId, request.body));
    });
  });

  api.get<{ Params: { deckId: string } }>('/ratedecks/:deckId', { schema: schemas.getRateDeck }, async (request) => {
    return bounded(() => accounts.getRateDeckVersion(request.params.deckId));
  });
}
