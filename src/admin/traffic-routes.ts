/**
 * /v1/accounts/:id/traffic: an account's traffic figures and rule states, its traffic settings, and the
 * "suspension recommended" mark. Thin HTTP over src/traffic/service.ts, which checks every value.
 */
import type { FastifyInstance } from 'fastify';
import type { TrafficService } from '../traffic/service.js';
import type { RouteContext } from './context.js';

const text = { type: 'string' } as const;
const params = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { ...text, description: '[A-Za-z0-9_.-]{1,64}' } },
} as const;
const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
/** Traffic replies are built by src/traffic/service.ts (trafficJson); the schema keeps every field it gives. */
const open = { type: 'object', additionalProperties: true } as const;

export const trafficSchemas = {
  getTraffic: { params, querystring: noQuery, response: { 200: open } },
  patchTraffic: {
    params,
    querystring: noQuery,
    body: {
      type: 'object',
      description: 'any of: profile (conversational | call_center | dialer), overrides { rule: { warning, critical } }, autoSuspend, maxCallSeconds, fraudRules [...]',
    },
    response: { 200: open },
  },
  liftBlocks: {
    params,
    querystring: { type: 'object', additionalProperties: false, properties: { prefix: { ...text, description: '1-16 digits; absent: every block of the account' } } },
    response: { 200: { type: 'object', properties: { account: text, lifted: { type: 'boolean' } } } },
  },
  clearRecommendation: { params, querystring: noQuery, response: { 200: { type: 'object', properties: { account: text, cleared: { type: 'boolean' } } } } },
} as const;

export function registerTrafficRoutes(api: FastifyInstance, ctx: RouteContext, traffic: TrafficService): void {
  const { bounded } = ctx;
  api.get<{ Params: { id: string } }>('/accounts/:id/traffic', { schema: trafficSchemas.getTraffic }, async (request) =>
    bounded(() => traffic.getTraffic(request.params.id)));

  api.patch<{ Params: { id: string }; Body: unknown }>('/accounts/:id/traffic', { schema: trafficSchemas.patchTraffic }, async (request) => {
    const settings = await bounded(() => traffic.putSettings(request.params.id, request.body));
    return { account: request.params.id, settings };
  });

  api.delete<{ Params: { id: string }; Querystring: { prefix?: string } }>('/accounts/:id/traffic/blocks', { schema: trafficSchemas.liftBlocks }, async (request) => {
    const r = await bounded(() => traffic.liftBlocks(request.params.id, request.query.prefix));
    return { account: request.params.id, lifted: r.lifted };
  });

  api.delete<{ Params: { id: string } }>('/accounts/:id/traffic/recommendation', { schema: trafficSchemas.clearRecommendation }, async (request) => {
    const r = await bounded(() => traffic.clearRecommendation(request.params.id));
    return { account: request.params.id, cleared: r.cleared };
  });
}
