/**
 * The admin HTTP API (fastify): accounts, limits, status, payments, rate decks, live calls and usage under
 * /v1, plus /metrics, /healthz and /readyz.
 *
 *   POST  /v1/accounts                     create ({id, ...fields}); 201, 409 account_exists
 *   PUT   /v1/accounts/:id                 create or update (merge); 201 created, 200 updated
 *   PATCH /v1/accounts/:id                 update; 404 account_not_found
 *   GET   /v1/accounts/:id                 the account, with its live calls per switch
 *   GET   /v1/accounts?cursor=&limit=      ids, a page at a time; nextCursor null at the end
 *   PUT   /v1/accounts/:id/limits          {channels?, cps?, burst?}: read by the next INVITE on every switch
 *   PUT   /v1/accounts/:id/status          {status: on|off, note?}: OFF ends the account's calls on every switch
 *   POST  /v1/accounts/:id/payments        {amountUsd, paymentId}: 201 applied, 200 duplicate (a retry), 409 payment_conflict
 *   GET   /v1/accounts/:id/usage           channels per switch, recent calls per second, funds, burn rate, depletion
 *   PUT   /v1/ratedecks/:deckId            text/csv body (up to 20 MiB); 422 ratedeck_invalid with line numbers
 *   GET   /v1/ratedecks/:deckId            the loaded version
 *   GET   /v1/calls?accountId=&switchId=   an account's live calls on every switch (or one)
 *   GET   /v1/switches/:switchId/calls     a switch's live calls: its registry on this instance, else Redis
 *   GET   /v1/ratedecks/:deckId/rates      the deck's version, prefix count and rates (?prefix=&limit=&offset=)
 *   GET   /v1/accounts/:id/payments/latest the last payment applied (amount, time, id), or null
 *   GET   /v1/accounts/:id/cdrs            the published customer CDR files, newest day first (cdr-routes.ts)
 *   GET   /v1/accounts/:id/cdrs/:day       one day's gzip file; 503 cdr_file_unavailable off the export role's host
 *   GET/PUT/DELETE /v1/accounts/:id/cdr-access  customer SFTP access: password, keys, refused attempts in or out
 *   GET   /v1/openapi.json                 this API's OpenAPI 3.1 document, generated from the route schemas
 *   GET   /v1/live?limit=&offset=          the live view's data: account rows, this instance's admits/refusals (live-view.ts)
 *   GET   /live                            the live view page: no token needed, it holds no data (live-view.ts)
 *
 * Access:
 * - Every /v1 route (and any unknown path) needs `Authorization: Bearer <admin.token>`. The token is
 *   compared in constant time, over SHA-256 digests so that its length does not leak either.
 * - /healthz, /readyz and /metrics need no token: Prometheus and orchestrators scrape them without a
 *   secret, and they hold no account data (metric labels are closed sets, never account or call ids).
 * - /live (the live view page) needs no token either: it is a static page with no data, whose script asks
 *   the engineer for the token and reads /v1/live with it (see live-view.ts).
 * - Without a token the API is open to every process on the host, so it may then only listen on a loopback
 *   address: listenAdmin refuses anything else at start (AdminBindError).
 *
 * Every failure answers `{ "error": { "code", "message", "problems"? } }` (see errors.ts). A 4xx never
 * changes anything: schemas and the account service check the whole request before any write. A 503
 * `unavailable` means Redis did not answer in time; the request may or may not have landed, and every
 * write is safe to retry (PUT and PATCH set values, payments are idempotent by paymentId).
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { isIP, type AddressInfo } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { createAccountService, type AccountService } from '../accounts/service.js';
import type { Directory } from '../admission/directory.js';
import type { CallRegistry } from '../calls/registry.js';
import type { CdrWriter } from '../cdr/writer.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { deadlinesOf, type Redis } from '../redis/client.js';
import type { Engine } from '../redis/engine.js';
import type { Keys } from '../redis/keys.js';
import { registerAccountRoutes } from './account-routes.js';
import { registerTrafficRoutes } from './traffic-routes.js';
import { createTrafficService } from '../traffic/service.js';
import { registerCallRoutes } from './call-routes.js';
import { registerCdrRoutes } from './cdr-routes.js';
import { registerDeckRoutes } from './deck-routes.js';
import { registerPaymentRoutes } from './payment-routes.js';
import type { RouteContext } from './context.js';
import { AdminBindError, AdminUnavailableError, UnauthorizedError, errorReply } from './errors.js';
import { registerLiveView } from './live-view.js'; // live view: GET /live, GET /v1/live
import type { Metrics } from '../metrics/metrics.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the bearer token: health, readiness and metrics. */
    public?: boolean;
  }
}

export const MIB = 1024 * 1024;

export interface AdminOptions {
  /** Largest JSON body. Default 1 MiB. */
  jsonBodyLimit?: number;
  /** Largest rate deck CSV upload. Default 20 MiB. */
  csvBodyLimit?: number;
  /** A request's Redis work answers 503 `unavailable` after this long. Default 5 s. */
  redisTimeoutMs?: number;
  /** /readyz: Redis must answer PING within this. Default max(1 s, redis.commandTimeoutMs). */
  readyRedisTimeoutMs?: number;
  /** /readyz: the CDR writer's oldest pending CDR must be younger than this. Default 60 s. */
  readyMaxCdrLagMs?: number;
  /** Accounts read at once when a switch's calls are gathered from Redis. Default 32. */
  scanConcurrency?: number;
}

export interface AdminServerDeps {
  config: Pick<Config, 'admin' | 'switchId' | 'billing' | 'redis' | 'traffic' | 'cdrExport'>;
  redis: Redis;
  keys: Keys;
  engine: Engine;
  metrics: Metrics;
  logger: Logger;
  /** The account service; built from redis, keys, engine and config when not given. */
  accounts?: AccountService;
  /** This instance's live calls (GET /v1/switches/<own id>/calls). */
  registry?: Pick<CallRegistry, 'all'>;
  /**
   * The catalog in memory; without it, account ids are read from Redis when needed. With `ambiguity`, /readyz
   * reports accounts identification cannot tell apart, and /metrics counts them.
   */
  directory?: Pick<Directory, 'accountIds'> & Partial<Pick<Directory, 'ambiguity'>>;
  /** What /readyz checks besides Redis. */
  health: {
    isConnected: () => boolean;
    isDraining?: () => boolean;
    cdrWriter?: Pick<CdrWriter, 'stats'>;
  };
  options?: AdminOptions;
  /** Wall clock, epoch ms. */
  now?: () => number;
}

const sha256 = (text: string) => hash('sha256', text, 'buffer');

/**
 * The credentials of `Authorization: Bearer <token>` (RFC 6750: the scheme, case-insensitive, one or more SP,
 * then the token, nothing after it), or null. Tabs, no-break spaces or trailing white space are not a
 * separator: such a header is refused, never trimmed into a match. No regex: no backtracking.
 */
function bearerCredentials(header: string | undefined): string | null {
  if (typeof header !== 'string' || header.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  let start = 7;
  while (header[start] === ' ') start++;
  const token = header.slice(start);
  if (token === '') return null;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return null; // b64token is printable ASCII without spaces
  }
  return token;
}

/** A bearer check in constant time: both sides are hashed first, so neither length nor content leaks. */
export function createBearerCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = sha256(token);
  return (authorization) => {
    const given = bearerCredentials(authorization);
    // a missing token is hashed too (as ''), so every refusal costs the same work
    return timingSafeEqual(sha256(given ?? ''), expected) && given !== null;
  };
}

function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(a) === 4) return a.startsWith('127.');
  if (a === '::1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped !== null && mapped[1]!.startsWith('127.');
}

/**
 * Where the admin server will listen. Refuses (AdminBindError) a non-loopback address when no token is
 * configured: the API would then be open to the network.
 */
export function checkAdminBind(admin: Config['admin']): { host: string; port: number } {
  const sep = admin.listen.lastIndexOf(':');
  const host = admin.listen.slice(0, sep);
  const port = Number(admin.listen.slice(sep + 1));
  if (sep <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AdminBindError(`admin.listen: must be host:port, got ${JSON.stringify(admin.listen)}`);
  }
  if (admin.token === '' && host.toLowerCase() !== 'localhost' && !isLoopbackAddress(host)) {
    throw new AdminBindError(
      `admin.listen: ${admin.listen} is not a loopback address, and admin.token is empty: the admin API would be ` +
        'open to the network. Set admin.token (CALLGATE_ADMIN_TOKEN), or listen on 127.0.0.1 (CALLGATE_ADMIN_LISTEN).',
    );
  }
  return { host, port };
}

/** Starts listening where config says (see checkAdminBind). Resolves with the bound address. */
export async function listenAdmin(server: FastifyInstance, admin: Config['admin']): Promise<{ host: string; port: number; url: string }> {
  const { host, port } = checkAdminBind(admin);
  await server.listen({ host, port });
  if (admin.token === '') {
    // "localhost" is resolved by the system: make sure it gave loopback addresses only
    const exposed = server.addresses().filter((a) => !isLoopbackAddress(a.address));
    if (exposed.length > 0) {
      await server.close();
      throw new AdminBindError(
        `admin.listen: ${admin.listen} resolved to ${exposed.map((a) => a.address).join(', ')}, which is not loopback, and admin.token is empty`,
      );
    }
    server.log.warn('admin API has no token: every process on this host may use it (loopback only)');
  }
  const bound = server.server.address() as AddressInfo;
  const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return { host: bound.address, port: bound.port, url: `http://${shown}:${bound.port}` };
}

type CheckResult = { ok: boolean; detail?: string; ms?: number };

async function pingRedis(redis: Redis, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    // on a cluster every master must answer: each holds the accounts of its slots
    const ping =
      'masters' in redis ? Promise.all(redis.masters.map(async (m) => (await redis.nodeClient(m)).ping())) : redis.ping();
    await Promise.race([
      ping,
      new Promise((_, fail) => {
        timer = setTimeout(() => fail(new Error(`no PING reply within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err), ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

export function createAdminServer(deps: AdminServerDeps): FastifyInstance {
  const { config, redis, keys, metrics } = deps;
  const opts = deps.options ?? {};
  const jsonBodyLimit = opts.jsonBodyLimit ?? MIB;
  const csvBodyLimit = opts.csvBodyLimit ?? 20 * MIB;
  const redisTimeoutMs = opts.redisTimeoutMs ?? 5_000;
  const readyRedisTimeoutMs = opts.readyRedisTimeoutMs ?? Math.max(1_000, config.redis.commandTimeoutMs);
  const readyMaxCdrLagMs = opts.readyMaxCdrLagMs ?? 60_000;
  const logger = deps.logger.child({ component: 'admin' });
  const accounts = deps.accounts ?? createAccountService({ redis, keys, engine: deps.engine, config });
  const traffic = createTrafficService({ engine: deps.engine, config, ...(deps.now ? { now: deps.now } : {}) });

  const tokenMatches = config.admin.token === '' ? null : createBearerCheck(config.admin.token);
  const server = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    disableRequestLogging: true,
    // errors raised before routing (a malformed percent-encoding in the path, ...) get the same envelope
    // (and, as for every route, a wrong token is told 401 first)
    frameworkErrors: (err, request, frameworkReply) => {
      const reply = frameworkReply as unknown as FastifyReply;
      const out =
        tokenMatches !== null && !tokenMatches(request.headers.authorization)
          ? errorReply(new UnauthorizedError('missing or wrong bearer token (Authorization: Bearer <admin.token>)'))
          : { status: 400, headers: undefined, body: { error: { code: 'invalid_request', message: `the request could not be read: ${err.message.slice(0, 200)}` } } };
      if (out.headers) void reply.headers(out.headers);
      void reply.code(out.status).header('content-type', 'application/json; charset=utf-8').send(out.body);
    },
    // requests Node's HTTP parser refuses (raw non-ASCII, oversized headers or path): answer in the envelope
    // and close, since the connection cannot be trusted to carry a next request
    clientErrorHandler: (err, socket) => {
      const code = (err as NodeJS.ErrnoException).code;
      const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body = JSON.stringify({ error: { code: 'invalid_request', message: 'the request could not be parsed as HTTP' } });
      // a HEAD request is answered without a body, as HTTP requires
      const head = (err as unknown as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
            `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
        );
      } else socket.destroy();
    },
    bodyLimit: jsonBodyLimit,
    // a slow upload may not hold a connection forever
    requestTimeout: 120_000,
    return503OnClosing: true,
    ajv: {
      // never alter a body: no coercion, no defaults, and an unknown field is an error rather than dropped
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, allowUnionTypes: true },
    },
  });
  // JSON only, except on the rate deck upload route, which replaces the parsers in its own scope
  server.removeContentTypeParser('text/plain');

  // The hooks run on every request: callback style (no promise per hook), and one histogram child per
  // method, route and status, looked up by a string key rather than by prom-client's label hashing.
  server.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.config.public || tokenMatches === null || tokenMatches(request.headers.authorization)) {
      done();
      return;
    }
    done(new UnauthorizedError('missing or wrong bearer token (Authorization: Bearer <admin.token>)'));
  });

  const requestHistograms = new Map<string, { observe(seconds: number): void }>();
  server.addHook('onResponse', (request, reply, done) => {
    const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
    const key = `${request.method} ${route} ${reply.statusCode}`;
    let histogram = requestHistograms.get(key);
    if (!histogram) {
      histogram = metrics.adminRequestSeconds.labels(request.method, route, String(reply.statusCode));
      requestHistograms.set(key, histogram);
    }
    histogram.observe(reply.elapsedTime / 1000);
    done();
  });

  server.setErrorHandler((err, request, reply) => {
    const out = errorReply(err, (e) => request.log.error({ err: e, method: request.method, route: request.routeOptions.url }, 'admin request failed'));
    if (out.body.error.code === 'unavailable') request.log.warn({ err, route: request.routeOptions.url }, 'admin request: Redis unavailable');
    if (out.headers) void reply.headers(out.headers);
    return reply.code(out.status).send(out.body);
  });

  server.setNotFoundHandler((request, reply) => {
    // which paths exist is nobody's business without the token
    if (tokenMatches !== null && !tokenMatches(request.headers.authorization)) {
      const out = errorReply(new UnauthorizedError('missing or wrong bearer token (Authorization: Bearer <admin.token>)'));
      if (out.headers) void reply.headers(out.headers);
      return reply.code(out.status).send(out.body);
    }
    return reply.code(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.slice(0, 200)}` } });
  });

  // the same coarse deadline timer as the scripts: no timer and no race per request
  const bounded = <T>(work: () => Promise<T>): Promise<T> =>
    deadlinesOf(redis).within(redisTimeoutMs, work, () => new AdminUnavailableError(`Redis did not answer within ${redisTimeoutMs} ms`));

  const ctx: RouteContext = {
    config,
    accounts,
    redis,
    keys,
    logger,
    registry: deps.registry,
    directory: deps.directory,
    bounded,
    now: deps.now ?? Date.now,
    scanConcurrency: opts.scanConcurrency ?? 32,
  };

  // first, so that it sees every route registered after it: the document is the route schemas, nothing else
  void server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'callgate admin API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: ({ schema, url }) => {
      // the rate deck upload is the one body that is not JSON (its route parses text/csv)
      if (url === '/v1/ratedecks/:deckId' && schema?.body) return { schema: { ...schema, consumes: ['text/csv'] }, url };
      return { schema, url };
    },
  });

  void server.register(
    async (api) => {
      registerAccountRoutes(api, ctx, { csvBodyLimit });
      registerCallRoutes(api, ctx);
      registerDeckRoutes(api, ctx);
      registerPaymentRoutes(api, ctx);
      registerTrafficRoutes(api, ctx, traffic);
      registerCdrRoutes(api, ctx);
      api.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());
    },
    { prefix: '/v1' },
  );

  // --- live view (src/admin/live-view.ts): GET /live, the page (no token, no data); GET /v1/live, its data (token) ---
  // a plugin that shares the root scope (what fastify-plugin marks with skip-override), so that it loads after
  // the OpenAPI plugin and /v1/live is in the document, while `server.liveView` stays on the root instance
  const liveView = async (root: FastifyInstance) => registerLiveView(root, ctx, metrics, traffic);
  Object.assign(liveView, { [Symbol.for('skip-override')]: true });
  void server.register(liveView);

  const publicRoute = { config: { public: true } };

  server.get('/healthz', { ...publicRoute, schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({
    status: 'ok',
  }));

  const checksSchema = {
    type: 'object',
    additionalProperties: { type: 'object', properties: { ok: { type: 'boolean' }, ms: { type: 'integer' }, detail: { type: 'string' } } },
  };
  const readySchema = {
    response: {
      200: { type: 'object', properties: { status: { type: 'string' }, checks: checksSchema } },
      503: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: { code: { type: 'string' }, message: { type: 'string' }, problems: { type: 'array', items: { type: 'string' } } },
          },
          checks: checksSchema,
        },
      },
    },
  };
  server.get('/readyz', { ...publicRoute, schema: readySchema }, async (_request, reply) => {
    const redisCheck = await pingRedis(redis, readyRedisTimeoutMs);
    const checks: Record<string, CheckResult> = { redis: redisCheck };
    checks.drachtio = deps.health.isConnected() ? { ok: true } : { ok: false, detail: 'not connected to drachtio-server' };
    if (deps.health.cdrWriter) {
      const lagMs = deps.health.cdrWriter.stats().lagMs;
      checks.cdrWriter =
        lagMs < readyMaxCdrLagMs ? { ok: true, ms: lagMs } : { ok: false, ms: lagMs, detail: `oldest pending CDR is ${lagMs} ms old (bound ${readyMaxCdrLagMs} ms)` };
    }
    const ambiguity = deps.directory?.ambiguity?.();
    if (ambiguity) {
      // reported, not failed: the instance serves every INVITE it can identify, and refuses only the ambiguous ones
      const ids = Object.keys(ambiguity.accounts).sort();
      checks.catalog =
        ids.length === 0
          ? { ok: true }
          : {
            ok: true,
            detail: `ambiguous: ${ids.length} accounts share source addresses without distinct tech prefixes (${ids
              .slice(0, 20)
              .map((id) => `${id} with ${ambiguity.accounts[id]!.join(',')}`)
              .join('; ')}${ids.length > 20 ? '; ...' : ''}); INVITEs they could both own are refused`,
          };
    }
    if (deps.health.isDraining) checks.draining = deps.health.isDraining() ? { ok: false, detail: 'draining for shutdown' } : { ok: true };
    const failed = Object.entries(checks)
      .filter(([, c]) => !c.ok)
      .map(([name, c]) => `${name}: ${c.detail ?? 'failed'}`);
    if (failed.length === 0) return { status: 'ready', checks };
    return reply.code(503).send({ error: { code: 'not_ready', message: `not ready: ${failed.join('; ')}`, problems: failed }, checks });
  });

  let cdrsReported = 0;
  server.get('/metrics', { ...publicRoute, schema: { response: { 200: { type: 'string' } } } }, async (_request, reply) => {
    // the CDR writer keeps its own figures; they reach the registry at scrape time
    if (deps.directory) metrics.catalogAccounts.set(deps.directory.accountIds().length);
    const ambiguity = deps.directory?.ambiguity?.();
    if (ambiguity) metrics.catalogAmbiguousAccounts.set(Object.keys(ambiguity.accounts).length);
    const stats = deps.health.cdrWriter?.stats();
    if (stats) {
      metrics.cdrWriterLagSeconds.set(stats.lagMs / 1000);
      metrics.cdrHeldCallIds.set(stats.heldCallIds);
      if (stats.written > cdrsReported) metrics.cdrsWritten.inc(stats.written - cdrsReported);
      cdrsReported = stats.written;
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return server;
}

export type AdminServer = ReturnType<typeof createAdminServer>;
