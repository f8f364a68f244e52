/**
 * What the admin API answers when a request fails: one JSON envelope, one stable `code` per cause, and the
 * HTTP status that goes with it. Every failure of every route goes through `errorReply`, so the same cause
 * always gets the same answer; clients (the CLI, scripts) branch on `error.code`, never on the message.
 *
 *   { "error": { "code": "invalid_request", "message": "...", "problems": ["channels: ..."] } }
 */
import {
  AbortError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from 'redis';
import {
  AccountExistsError,
  AccountNotFoundError,
  AccountsError,
  CatalogBusyError,
  DeckNotFoundError,
  PaymentConflictError,
  RateDeckInvalidError,
  ValidationError,
} from '../accounts/errors.js';
import { ConfigError } from '../config/load.js';
import type { RateDeckProblem } from '../rating/deck-model.js';
import { TYPE_PROBLEMS } from './schemas.js';

export type AdminErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'not_found'
  | 'account_not_found'
  | 'deck_not_found'
  | 'cdr_file_not_found'
  | 'account_exists'
  | 'payment_conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'ratedeck_invalid'
  | 'not_ready'
  | 'unavailable'
  | 'cdr_file_unavailable'
  | 'internal';

export interface ErrorBody {
  error: {
    code: AdminErrorCode;
    message: string;
    /** invalid_request: one text per problem. ratedeck_invalid: the CSV line of each problem. not_ready: each failed check. */
    problems?: readonly (string | RateDeckProblem)[];
    /** ratedeck_invalid: how many problems the file had in all (`problems` keeps the first ones). */
    problemCount?: number;
  };
}

export interface ErrorReplyOut {
  status: number;
  body: ErrorBody;
  /** Extra response headers (WWW-Authenticate on a 401). */
  headers?: Record<string, string>;
}

/** Errors raised by the admin layer itself, each with its code and status. */
export abstract class AdminError extends Error {
  abstract readonly code: AdminErrorCode;
  abstract readonly status: number;
}

export class UnauthorizedError extends AdminError {
  override readonly name = 'UnauthorizedError';
  readonly code = 'unauthorized';
  readonly status = 401;
}

/** Redis did not answer within the admin bound. The operation may still land later: retrying is safe. */
export class AdminUnavailableError extends AdminError {
  override readonly name = 'AdminUnavailableError';
  readonly code = 'unavailable';
  readonly status = 503;
}

/** No published CDR file of that account for that day (or its record is not one this API will serve). */
export class CdrFileNotFoundError extends AdminError {
  override readonly name = 'CdrFileNotFoundError';
  readonly code = 'cdr_file_not_found';
  readonly status = 404;
}

/**
 * The day's file is recorded in Redis but cannot be read on this host: the files live on the export role's
 * host, and this instance does not share its cdrExport.dir. Retrying here does not help; the file is safe.
 */
export class CdrFileUnavailableError extends AdminError {
  override readonly name = 'CdrFileUnavailableError';
  readonly code = 'cdr_file_unavailable';
  readonly status = 503;
}

/**
 * The admin server may not listen where it was configured to (see checkAdminBind). Raised at start. It is a
 * configuration error, so `callgate serve` reports it as one (exit code 1).
 */
export class AdminBindError extends ConfigError {
  constructor(problem: string) {
    super([problem]);
  }
}

const ACCOUNTS_STATUS: Record<string, number> = {
  invalid_request: 400,
  account_not_found: 404,
  deck_not_found: 404,
  account_exists: 409,
  payment_conflict: 409,
  catalog_busy: 503,
  ratedeck_invalid: 422,
};

const REDIS_CONNECTION_ERRORS = [
  AbortError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
];

/** Redis error replies that mean "not now" rather than "this request is wrong" (the reply's own error code). */
const REDIS_TRANSIENT_REPLIES = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY|READONLY|OOM|NOREPLICAS|MOVED|ASK)\b/;

/** True when `err` means Redis could not be used just now: the admin API answers 503, never 500. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (REDIS_CONNECTION_ERRORS.some((type) => err instanceof type)) return true;
  return err instanceof ErrorReply && REDIS_TRANSIENT_REPLIES.test(err.message);
}

/** Fastify's own failures (parsing, limits, schema validation): statusCode and a FST_ code, or `validation`. */
interface FastifyFailure {
  statusCode?: number;
  code?: string;
  validation?: readonly { instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
}

function reply(status: number, code: AdminErrorCode, message: string, extra: Partial<ErrorBody['error']> = {}): ErrorReplyOut {
  return { status, body: { error: { code, message, ...extra } } };
}

/**
 * One problem text per schema violation, in the form the account service uses (`field: what is wrong`), so a
 * client reads the same shape whichever layer refused the request.
 */
export function schemaProblems(failure: FastifyFailure): string[] {
  const where = failure.validationContext ?? 'body';
  return (failure.validation ?? []).map((v) => {
    const path = (v.instancePath ?? '').split('/').filter(Boolean).join('.');
    const params = v.params ?? {};
    if (v.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
      return `${JSON.stringify(params.additionalProperty)}: unknown field${path ? ` in ${path}` : ''}`;
    }
    const field = path.split('.').at(-1) ?? '';
    if (v.keyword === 'type' && TYPE_PROBLEMS[field]) return `${path}: ${TYPE_PROBLEMS[field]}`;
    if (v.keyword === 'required' && typeof params.missingProperty === 'string') {
      return `${path ? `${path}.` : ''}${params.missingProperty}: required`;
    }
    return `${path || where}: ${v.message ?? 'is invalid'}`;
  });
}

/** Maps any failure of a request to its status and JSON body. `unexpected` is told of failures that are bugs. */
export function errorReply(err: unknown, unexpected: (err: unknown) => void = () => {}): ErrorReplyOut {
  if (err instanceof AccountsError) {
    const status = ACCOUNTS_STATUS[err.code] ?? 400;
    if (err instanceof ValidationError) return reply(status, 'invalid_request', err.message, { problems: err.problems });
    if (err instanceof RateDeckInvalidError) {
      return reply(status, 'ratedeck_invalid', err.message, { problems: err.problems, problemCount: err.problemCount });
    }
    if (err instanceof AccountNotFoundError) return reply(status, 'account_not_found', err.message);
    if (err instanceof DeckNotFoundError) return reply(status, 'deck_not_found', err.message);
    if (err instanceof AccountExistsError) return reply(status, 'account_exists', err.message);
    if (err instanceof PaymentConflictError) return reply(status, 'payment_conflict', err.message);
    if (err instanceof CatalogBusyError) return reply(status, 'unavailable', err.message);
  }
  if (err instanceof UnauthorizedError) {
    return { ...reply(401, 'unauthorized', err.message), headers: { 'www-authenticate': 'Bearer realm="callgate-admin"' } };
  }
  if (err instanceof AdminError) return reply(err.status, err.code, err.message);
  if (isRedisUnavailable(err)) {
    return reply(503, 'unavailable', 'Redis is unavailable; nothing may have been changed, and the request is safe to retry');
  }
  const f = (typeof err === 'object' && err !== null ? err : {}) as FastifyFailure;
  if (f.validation) {
    const problems = schemaProblems(f);
    return reply(400, 'invalid_request', `invalid request: ${problems.join('; ')}`, { problems });
  }
  const message = err instanceof Error ? err.message : 'request failed';
  switch (f.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply(413, 'payload_too_large', message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply(415, 'unsupported_media_type', message);
    case 'FST_ERR_NOT_FOUND':
      return reply(404, 'not_found', message);
  }
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    // malformed JSON, an empty JSON body, a bad Content-Length: the client sent something unreadable
    if (f.statusCode === 413) return reply(413, 'payload_too_large', message);
    if (f.statusCode === 415) return reply(415, 'unsupported_media_type', message);
    return reply(400, 'invalid_request', message, { problems: [message] });
  }
  unexpected(err);
  return reply(500, 'internal', 'internal error (logged on the server)');
}
