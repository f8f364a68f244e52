/**
 * Hostile input against the admin HTTP API, over real HTTP (node:http, keep-alive) to a real admin server on
 * a real Redis. Seeded: every failure replays from its seed.
 *
 * - 10,000+ generated requests: random methods, route templates with hostile ids (`{`, `}`, `:`, `*`, `../`,
 *   unicode, 65+ characters, empty, percent-encodings good and bad), query strings, headers, and JSON/CSV
 *   bodies holding hostile values of every type. Asserted on every answer: never a 5xx, every error is the
 *   JSON envelope `{error:{code,message}}`, a wrong token always gets 401. After every batch, every key
 *   under the test's prefix is dumped (SCAN + a type-aware read) and compared: only a 2xx write may have
 *   changed anything, and only in the slots of the account or deck it answered for; no key outside the
 *   account-slot patterns ever appears.
 * - Token variants (prefix, suffix, case, whitespace, other schemes) and the constant-time comparison.
 * - Body limits: 413 JSON on every JSON write route and on the rate deck upload.
 * - Customer CDR files: the day list and download (one day file seeded for acme), and the SFTP access routes.
 */
import { Agent, request as httpRequest } from 'node:http';
import * as realCrypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { describeOnRedis } from '../helpers/context.js';
import { createPrng, hostileString, type Prng } from '../helpers/prng.js';
import { createAccountService } from '../../src/accounts/service.js';
import { createCallRegistry } from '../../src/calls/registry.js';
import { MIB, createBearerCheck } from '../../src/admin/server.js';
import { MAX_MICROS } from '../../src/rating/money.js';
import type { Redis } from '../../src/redis/client.js';
import { startTestAdmin } from '../helpers/admin-server.js';
import { KEYS, publishDayFile } from '../helpers/cdr-files.js';

// The bearer check must go through crypto.timingSafeEqual: the spy passes every call on to the real one.
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const CASES = 10_000;
const BATCH = 100;
const CONCURRENCY = 6;
const SEED = 20260501;
const TOKEN = 'fuzz-admin-token-5b1e0c9a77d2e4fa';

const DECK_CSV = 'prefix,rate_per_min,first_increment,next_increment,connect_fee\n1,0.01,6,6,\n44,0.02,60,60,0.05\n';
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

// ------------------------------------------------------------------------------------------- HTTP

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The request carries no valid credentials. */
  wrongAuth: boolean;
  /** The route template it was built from, for the report. */
  template: string;
}

interface Res {
  status: number;
  contentType: string;
  text: string;
}

function sendOnce(port: number, agent: Agent | false, req: Req): Promise<Res & { reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    // GET, HEAD, DELETE and OPTIONS get no framing by default: a body must carry its Content-Length
    const headers = req.body === undefined ? req.headers : { ...req.headers, 'content-length': String(req.body.length) };
    const r = httpRequest(
      { host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent, timeout: 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
            reusedSocket: r.reusedSocket,
          }),
        );
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer within 15 s: ${req.method} ${req.path.slice(0, 120)}`)));
    r.on('error', (err) => reject(Object.assign(err, { reusedSocket: r.reusedSocket })));
    r.end(req.body);
  });
}

/** Connections a previous answer left unusable although they looked kept alive (retried on a new one). */
let brokenKeepAlive = 0;

/**
 * Sends on the keep-alive pool. A request that fails on a reused connection is the previous answer's doing
 * (a raw framework error written without `Connection: close`): it is counted and sent again on a new connection.
 */
async function send(port: number, agent: Agent, req: Req): Promise<Res> {
  try {
    return await sendOnce(port, agent, req);
  } catch (err) {
    if (!(err as { reusedSocket?: boolean }).reusedSocket) throw err;
    brokenKeepAlive++;
    return sendOnce(port, false, req);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{error:{code,message}}` with string code and message. */
function isEnvelope(res: Res): boolean {
  const body = parseJson(res.text) as { error?: { code?: unknown; message?: unknown } } | undefined;
  return (
    res.contentType.startsWith('application/json') &&
    typeof body?.error === 'object' &&
    body.error !== null &&
    typeof body.error.code === 'string' &&
    typeof body.error.message === 'string'
  );
}

// ------------------------------------------------------------------------------------- generator

/** Everything node:http lets through in a path: Latin-1 printable, no space. Unicode goes as its raw UTF-8 bytes. */
function rawPathPart(s: string): string {
  const latin1 = Buffer.from(s, 'utf8').toString('latin1');
  return latin1.replace(/[^\u0021-\u00ff]/g, (c) => encodeURIComponent(c)).replace(/[?#/]/g, (c) => encodeURIComponent(c));
}

/** A header value node:http accepts: tab and Latin-1 printable only (unicode as its UTF-8 bytes). */
function headerValue(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1').replace(/[^\t\u0020-\u007e\u0080-\u00ff]/g, '?').slice(0, 8000);
}

const VALID_IDS = ['acme', 'post', 'offacct', 'n0', 'n1', 'n2', 'n3', 'n4', 'n5', '.', '..', 'a.b_c-d', 'x'.repeat(64)];
const DECK_IDS = ['std', 'd2', 'd3'];

function hostileId(r: Prng): string {
  return r.pick([
    '{', '}', ':', '*', '../', '../../acme', '%', '%zz', '%E0%A4%A', '%7Ba%3Aacme%7D', '%2F', '%00', 'acme%00', '{a:acme}', 'acme}:x',
    'acme:acct', 'a b', 'é', '١٢٣', '\u202e', 'ＡＢＣ', '', 'x'.repeat(65), 'y'.repeat(300), '*:*', 'acme/limits', 'acme;x=1', '~', '+',
    hostileString(r), hostileString(r),
  ]);
}

function idFor(r: Prng): string {
  return r.next() < 0.55 ? r.pick(VALID_IDS) : hostileId(r);
}

/** A path segment for an id: raw, percent-encoded, double-encoded, or with percent noise. */
function encodeId(r: Prng, id: string): string {
  switch (r.int(5)) {
    case 0:
    case 1:
      return encodeURIComponent(id);
    case 2:
      return rawPathPart(id);
    case 3:
      return encodeURIComponent(encodeURIComponent(id));
    default:
      return rawPathPart(id) + r.pick(['%', '%2', '%zz', '%C3', '%25', '%20', '']);
  }
}

/** Markers replaced by raw JSON text after JSON.stringify (numbers JSON.stringify cannot write). */
const RAW_NUMBERS = [
  '123456789012345678901234567890', '9007199254740993', '-9007199254740993', '1e308', '-1e308', '1e-400', '2e400', '0.0000001', '-0',
  '1.0', '12.1234567', '100000000000000000000.5',
];

function hostileValue(r: Prng, depth = 0): unknown {
  const k = r.int(depth > 2 ? 14 : 17);
  switch (k) {
    case 0:
      return r.pick([0, 1, -1, 1.5, -0.5, 0.1, 1e21, 1e-7, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, 1_000_000_000, 999_999_999.999999]);
    case 1:
      return `__RAW${r.int(RAW_NUMBERS.length)}__`;
    case 2:
      return r.pick(['1.1234567', '0.0000001', '-5', '-0.01', '12.50', '1e3', ' 12 ', '0x10', '', '00012', '1,000', 'NaN', 'Infinity', '999999999.999999', '1000000000']);
    case 3:
      return hostileString(r);
    case 4:
      return null;
    case 5:
      return r.next() < 0.5;
    case 6:
      return 'w'.repeat(r.pick([129, 257, 4096, 70_000]));
    case 7:
      return r.pick(['on', 'off', 'prepaid', 'postpaid', 'US', 'GB', 'us', 'XX', 'std', 'd3', '1001#', '192.0.2.1', '10.0.0.0/8', '::1', '0.0.0.0/0']);
    case 8:
      return r.pick(['é', '١٢٣', '𝟘𝟙', '\u202e', '\u0000', 'line\nbreak', '\ud800', 'ＡＢＣ']);
    case 9:
      return [];
    case 10:
      return {};
    case 11:
      return r.pick(['__proto__', 'constructor', 'prototype', 'toString']);
    case 12:
      return -r.int(1_000_000);
    case 13:
      return r.int(200_000);
    default:
      if (r.next() < 0.5) return Array.from({ length: r.int(4) }, () => hostileValue(r, depth + 1));
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['a', 'id', 'status', hostileString(r)]), hostileValue(r, depth + 1)]));
  }
}

const VALID_FIELD: Record<string, (r: Prng) => unknown> = {
  type: (r) => r.pick(['prepaid', 'postpaid']),
  name: (r) => r.pick(['ACME Telecom', 'Carrier é', 'x']),
  creditLimit: (r) => r.pick(['100', '0', '2500.50', 250]),
  channels: (r) => r.pick([10, 0, 100_000]),
  cps: (r) => r.pick([5, 0, 10_000]),
  burst: (r) => r.pick([5, 10, 1]),
  fusfOnFile: (r) => r.next() < 0.5,
  billingCountry: (r) => r.pick(['US', 'GB', 'MX']),
  lowBalanceThreshold: (r) => r.pick(['1.50', '0', '3']),
  deckId: (r) => r.pick(['std', 'd2']),
  // addresses drawn from a large space: two accounts may not share one (without distinct tech prefixes)
  ips: (r) => r.pick([[`10.${r.int(256)}.${r.int(256)}.${1 + r.int(254)}`], [`172.16.${r.int(256)}.0/24`, `2001:db8:${r.int(65536).toString(16)}::1`]]),
  techPrefix: (r) => r.pick(['1001#', null, '', '7*']),
};
const ACCOUNT_FIELDS = Object.keys(VALID_FIELD);

function fieldValue(r: Prng, field: string): unknown {
  return r.next() < 0.6 ? VALID_FIELD[field]!(r) : hostileValue(r);
}

function accountBody(r: Prng, complete: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (complete) {
    for (const f of ['type', 'channels', 'cps', 'billingCountry', 'deckId', 'ips']) body[f] = VALID_FIELD[f]!(r);
    if (body.type === 'postpaid') body.creditLimit = '100';
  }
  const n = r.int(4);
  for (let i = 0; i < n; i++) {
    const f = r.pick(ACCOUNT_FIELDS);
    body[f] = fieldValue(r, f);
  }
  if (r.next() < 0.1) body[r.pick(['colour', 'balance', 'status', 'reserved', '__proto__', 'id', hostileString(r)])] = hostileValue(r);
  return body;
}

function amount(r: Prng): unknown {
  if (r.next() < 0.7) return r.pick(['0.01', '12.50', '1', '100', `${r.int(1000)}.${String(r.int(1_000_000)).padStart(6, '0')}`, 25, 0.5, '999999999.999999']);
  return hostileValue(r);
}

function paymentId(r: Prng): unknown {
  const x = r.next();
  if (x < 0.5) return `pay-${r.int(1_000_000_000)}`;
  if (x < 0.7) return r.pick(['p1', 'p2', 'p3']); // reused: duplicates (200) and conflicts (409)
  if (x < 0.75) return 'p'.repeat(128);
  return hostileValue(r);
}

/** A traffic settings PATCH: valid values, absurd thresholds, bad prefixes, unknown rule names and hostile values. */
function trafficBody(r: Prng): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const threshold = () => r.pick<unknown>([15, 25, '30.5', 'off', null, 'default', -1, 101, 1e9, 12.25, '1e3', 'NaN', hostileValue(r)]);
  if (r.next() < 0.4) body.profile = r.pick<unknown>(['conversational', 'call_center', 'dialer', 'spammer', '', hostileValue(r)]);
  if (r.next() < 0.4) {
    const rule = r.pick(['short_call_ratio', 'zero_second_ratio', 'acd', 'asr', 'made_up', '__proto__', hostileString(r)]);
    body.overrides = r.next() < 0.85 ? { [rule]: { [r.pick(['warning', 'critical', 'emergency'])]: threshold() } } : hostileValue(r);
  }
  if (r.next() < 0.3) body.autoSuspend = r.pick<unknown>([true, false, 'true', 'yes', 1, hostileValue(r)]);
  if (r.next() < 0.3) body.maxCallSeconds = r.pick<unknown>([60, 7200, 'off', null, 0, -5, 86_401, 1.5, '60', hostileValue(r)]);
  if (r.next() < 0.4) {
    const rule = () => ({
      name: r.pick<unknown>(['uk-premium', 'r1', 'bad name', '', hostileString(r)]),
      prefix: r.pick<unknown>(['4490', '1', '+44', '', '12345678901234567', 'abc', 4490, hostileValue(r)]),
      limits: r.next() < 0.8
        ? { [r.pick(['calls_per_minute', 'concurrent_calls', 'calls_per_day', 'repeat_dials', 'calls_per_hour'])]: { warning: threshold(), critical: threshold() } }
        : hostileValue(r),
      ...(r.next() < 0.3 ? { hours: r.pick<unknown>([{ from: 22, to: 6 }, { from: 5, to: 5 }, { from: 24, to: 1 }, hostileValue(r)]) } : {}),
      ...(r.next() < 0.3 ? { days: r.pick<unknown>([['sat', 'sun'], [], ['funday'], hostileValue(r)]) } : {}),
    });
    body.fraudRules = r.next() < 0.85 ? Array.from({ length: r.int(3) }, rule) : hostileValue(r);
  }
  if (r.next() < 0.1) body[r.pick(['surprise', '__proto__', 'traffic', hostileString(r)])] = hostileValue(r);
  return body;
}

/** A CDR access PUT: a good or short password, real, weak and hostile key lines, the refused-attempts switch. */
function cdrAccessBody(r: Prng): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (r.next() < 0.4) body.password = r.pick<unknown>(['correct horse battery staple', 'short', 'x'.repeat(257), 'tab\tin the middle', hostileValue(r)]);
  if (r.next() < 0.4) {
    const key = () => r.pick<unknown>([KEYS.ED25519, `${KEYS.ECDSA_256} noc`, KEYS.RSA_1024, 'ssh-ed25519 AAAA', `command="x" ${KEYS.ED25519}`, hostileValue(r)]);
    body.authorizedKeys = r.next() < 0.85 ? Array.from({ length: r.pick([0, 1, 2, 21]) }, key) : hostileValue(r);
  }
  if (r.next() < 0.4) body.includeRefused = r.pick<unknown>([true, false, 'no', 0, hostileValue(r)]);
  if (r.next() < 0.1) body[r.pick(['passwordHash', 'keys', 'refused', hostileString(r)])] = hostileValue(r);
  return body;
}

function deckCsv(r: Prng): string {
  const x = r.next();
  if (x < 0.35) return DECK_CSV;
  const header = r.next() < 0.8 ? 'prefix,rate_per_min,first_increment,next_increment,connect_fee' : hostileString(r);
  const lines = [header];
  const n = 1 + r.int(6);
  for (let i = 0; i < n; i++) {
    const cell = () => (r.next() < 0.5 ? r.pick(['44', '1', '0.01', '6', '60', '', '-1', '0.1234567', '1e3', '"4,4"', '99999999999999999999', '0']) : hostileString(r));
    lines.push(Array.from({ length: r.pick([4, 5, 5, 6, 2]) }, cell).join(','));
  }
  const text = lines.join(r.pick(['\n', '\r\n', '\r']));
  return r.next() < 0.1 ? `\ufeff${text}` : text;
}

const WRONG_AUTH = (r: Prng): string | undefined =>
  r.pick([
    undefined,
    '',
    'Bearer',
    'Bearer ',
    `Bearer ${TOKEN.slice(0, 1 + r.int(TOKEN.length - 1))}`,
    `Bearer ${TOKEN}x`,
    `Bearer x${TOKEN}`,
    `Bearer ${TOKEN.toUpperCase()}`,
    `bearer ${TOKEN.slice(0, -1)}${TOKEN.at(-1)!.toUpperCase()}`, // the last character is a letter
    `Bearer ${TOKEN.slice(0, 10)} ${TOKEN.slice(10)}`,
    `Bearer ${TOKEN} ${TOKEN}`,
    `Bearer${TOKEN}`,
    `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
    `Token ${TOKEN}`,
    TOKEN,
    `Bearer "${TOKEN}"`,
    `Bearer ${headerValue(hostileString(r))}x`,
  ]);

const RIGHT_AUTH = (r: Prng) => r.pick([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`]);

type Template = {
  method: string;
  path: string;
  body: 'none' | 'account' | 'account+id' | 'limits' | 'status' | 'payment' | 'csv' | 'traffic' | 'cdrAccess';
  query?: 'list' | 'calls' | 'limit' | 'prefix';
};
const TEMPLATES: Template[] = [
  { method: 'POST', path: '/v1/accounts', body: 'account+id' },
  { method: 'PUT', path: '/v1/accounts/:id', body: 'account' },
  { method: 'PATCH', path: '/v1/accounts/:id', body: 'account' },
  { method: 'GET', path: '/v1/accounts/:id', body: 'none' },
  { method: 'GET', path: '/v1/accounts', body: 'none', query: 'list' },
  { method: 'PUT', path: '/v1/accounts/:id/limits', body: 'limits' },
  { method: 'PUT', path: '/v1/accounts/:id/status', body: 'status' },
  { method: 'POST', path: '/v1/accounts/:id/payments', body: 'payment' },
  { method: 'POST', path: '/v1/accounts/:id/payments', body: 'payment' },
  { method: 'GET', path: '/v1/accounts/:id/usage', body: 'none' },
  { method: 'GET', path: '/v1/accounts/:id/traffic', body: 'none' },
  { method: 'PATCH', path: '/v1/accounts/:id/traffic', body: 'traffic' },
  { method: 'PATCH', path: '/v1/accounts/:id/traffic', body: 'traffic' },
  { method: 'DELETE', path: '/v1/accounts/:id/traffic/blocks', body: 'none', query: 'prefix' },
  { method: 'DELETE', path: '/v1/accounts/:id/traffic/recommendation', body: 'none' },
  { method: 'PUT', path: '/v1/ratedecks/:deckId', body: 'csv' },
  { method: 'GET', path: '/v1/ratedecks/:deckId', body: 'none' },
  { method: 'GET', path: '/v1/calls', body: 'none', query: 'calls' },
  { method: 'GET', path: '/v1/switches/:switchId/calls', body: 'none', query: 'limit' },
  { method: 'GET', path: '/healthz', body: 'none' },
  { method: 'GET', path: '/readyz', body: 'none' },
  { method: 'GET', path: '/metrics', body: 'none' },
];
/**
 * The customer CDR file routes: drawn from a PRNG of their own (CDR_SEED) and added to each batch, so that the
 * requests above stay the very ones their seed has always given.
 */
const CDR_TEMPLATES: Template[] = [
  { method: 'GET', path: '/v1/accounts/:id/cdrs', body: 'none' },
  { method: 'GET', path: '/v1/accounts/:id/cdrs/:day', body: 'none' },
  { method: 'GET', path: '/v1/accounts/:id/cdrs/:day', body: 'none' },
  { method: 'GET', path: '/v1/accounts/:id/cdr-access', body: 'none' },
  { method: 'PUT', path: '/v1/accounts/:id/cdr-access', body: 'cdrAccess' },
  { method: 'PUT', path: '/v1/accounts/:id/cdr-access', body: 'cdrAccess' },
  { method: 'DELETE', path: '/v1/accounts/:id/cdr-access', body: 'none' },
];
const CDR_SEED = 20261203;
/** CDR route requests added to each batch of BATCH. */
const CDR_PER_BATCH = 20;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'SEARCH'];
const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'text/csv', 'application/csv', 'text/plain', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/vnd.api+json', 'TEXT/CSV', '*/*', 'application/json;;',
];

function queryFor(r: Prng, kind: Template['query']): string {
  if (r.next() < 0.45 && kind === undefined) return '';
  const pairs: string[] = [];
  const val = () =>
    r.next() < 0.5
      ? r.pick(['0', '1', '100', '1000', '1001', '-1', '1.5', '1e3', '', '18446744073709551615', '18446744073709551616', '99999999999999999999', 'abc', 'acme', 'sw1'])
      : encodeURIComponent(hostileString(r)).slice(0, 3000);
  if (kind === 'list') {
    if (r.next() < 0.7) pairs.push(`cursor=${val()}`);
    if (r.next() < 0.7) pairs.push(`limit=${val()}`);
  } else if (kind === 'calls') {
    if (r.next() < 0.85) pairs.push(`accountId=${r.next() < 0.5 ? encodeURIComponent(r.pick(VALID_IDS)) : encodeId(r, hostileId(r))}`);
    if (r.next() < 0.4) pairs.push(`switchId=${r.next() < 0.5 ? 'sw1' : encodeId(r, hostileId(r))}`);
  } else if (kind === 'limit') {
    if (r.next() < 0.6) pairs.push(`limit=${val()}`);
  } else if (kind === 'prefix') {
    if (r.next() < 0.6) pairs.push(`prefix=${r.next() < 0.5 ? r.pick(['4490', '44', '1', '12345678901234567', '+44', '']) : val()}`);
  }
  if (r.next() < 0.25) pairs.push(`${r.pick(['verbose', '__proto__', 'constructor', 'a[b]', '__proto__[x]', 'limit', 'cursor', '%zz', ''])}=${val()}`);
  if (r.next() < 0.05) pairs.push(r.pick(['%zz', '&&&', '=', 'a=%', 'x'.repeat(5000)]));
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`;
}

function generate(r: Prng, switchId: string, templates: readonly Template[] = TEMPLATES): Req {
  const t = r.pick(templates);
  const method = r.next() < 0.85 ? t.method : r.pick(METHODS);
  let path = t.path
    .replace(':id', () => encodeId(r, idFor(r)))
    .replace(':deckId', () => encodeId(r, r.next() < 0.6 ? r.pick(DECK_IDS) : hostileId(r)))
    .replace(':day', () => encodeId(r, r.next() < 0.6 ? r.pick(['2026-12-03', '20261203', '2026-12-04', '2026-02-30']) : hostileId(r)))
    .replace(':switchId', () => encodeId(r, r.next() < 0.5 ? r.pick([switchId, 'sw2']) : hostileId(r)));
  const mutate = r.next();
  if (mutate < 0.03) path += '/';
  else if (mutate < 0.05) path = path.replace('/v1/', '/v1//');
  else if (mutate < 0.06) path = path.toUpperCase();
  else if (mutate < 0.07) path += '/../accounts/acme';
  else if (mutate < 0.08) path += `/${rawPathPart(hostileString(r))}`;
  else if (mutate < 0.085) path += `/${'seg/'.repeat(2000)}`;
  path += queryFor(r, t.query);

  const headers: Record<string, string> = {};
  const wrongAuth = r.next() < 0.12;
  const auth = wrongAuth ? WRONG_AUTH(r) : RIGHT_AUTH(r);
  if (auth !== undefined) headers.authorization = headerValue(auth);

  let body: Buffer | undefined;
  let contentType: string | undefined;
  const b = r.next();
  if (t.body !== 'none' || b < 0.1) {
    let value: unknown;
    let text: string | undefined;
    switch (t.body) {
      case 'account+id':
        value = { id: idFor(r), ...accountBody(r, r.next() < 0.4) };
        break;
      case 'account':
        value = accountBody(r, method === 'PUT' && r.next() < 0.4);
        break;
      case 'limits':
        value = Object.fromEntries(
          ['channels', 'cps', 'burst'].filter(() => r.next() < 0.5).map((f) => [f, r.next() < 0.6 ? VALID_FIELD[f]!(r) : hostileValue(r)]),
        );
        if (r.next() < 0.1) (value as Record<string, unknown>)[r.pick(['nope', 'balance'])] = 1;
        break;
      case 'status':
        value = {
          status: r.next() < 0.7 ? r.pick(['on', 'off']) : hostileValue(r),
          ...(r.next() < 0.4 ? { note: r.next() < 0.5 ? 'MSA review' : hostileValue(r) } : {}),
        };
        break;
      case 'payment':
        value = { amountUsd: amount(r), paymentId: paymentId(r) };
        if (r.next() < 0.05) delete (value as Record<string, unknown>)[r.pick(['amountUsd', 'paymentId'])];
        if (r.next() < 0.05) (value as Record<string, unknown>).currency = 'USD';
        break;
      case 'traffic':
        value = trafficBody(r);
        break;
      case 'cdrAccess':
        value = cdrAccessBody(r);
        break;
      case 'csv':
        text = deckCsv(r);
        contentType = r.next() < 0.9 ? r.pick(['text/csv', 'application/csv', 'text/csv; charset=utf-8']) : r.pick(CONTENT_TYPES);
        break;
      default:
        value = hostileValue(r);
    }
    const whole = r.next();
    if (text === undefined) {
      if (whole < 0.08) value = hostileValue(r);
      text = JSON.stringify(value) ?? 'null';
      text = text.replace(/"__RAW(\d+)__"/g, (_, i: string) => RAW_NUMBERS[Number(i)]!);
      if (whole > 0.97) text = r.pick(['{"id": "x",', '', '{', '[', 'nul', '{"a":1}{"b":2}', `${'['.repeat(5000)}${']'.repeat(5000)}`, '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '\ufeff{}']);
      contentType = r.next() < 0.9 ? 'application/json' : r.pick(CONTENT_TYPES);
    }
    if (r.next() < 0.004) text = `{"name":"${'z'.repeat(MIB + 16)}"}`;
    body = Buffer.from(text, 'utf8');
    if (r.next() > 0.03) headers['content-type'] = contentType!;
  }
  if (r.next() < 0.15) {
    const name = r.pick(['x-forwarded-for', 'x-request-id', 'accept', 'accept-encoding', 'content-encoding', 'cookie', 'x-callgate-account', 'accept-version', 'origin']);
    headers[name] = headerValue(r.next() < 0.5 ? hostileString(r) : r.pick(['gzip', 'br', '*/*', '1.0.0', 'deflate', 'identity']));
  }
  return { method, path, headers, body, wrongAuth, template: `${t.method} ${t.path}` };
}

// ------------------------------------------------------------------------------------ Redis state

async function allKeys(redis: Redis, prefix: string, isCluster: boolean): Promise<string[]> {
  const keys: string[] = [];
  const cluster = redis as unknown as { masters: unknown[]; nodeClient(n: unknown): Promise<Redis> };
  const nodes = isCluster ? cluster.masters : [null];
  for (const node of nodes) {
    const client = node === null ? redis : await cluster.nodeClient(node);
    for await (const batch of (client as unknown as { scanIterator(o: object): AsyncIterable<string[]> }).scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      keys.push(...batch);
    }
  }
  return keys;
}

/** Every key under the prefix, type-aware: a hash becomes one entry per field, anything else one entry. */
async function snapshotState(redis: Redis, prefix: string, isCluster: boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await allKeys(redis, prefix, isCluster)) {
    const type = String(await redis.type(key));
    switch (type) {
      case 'hash':
        for (const [f, v] of Object.entries((await redis.hGetAll(key)) as Record<string, string>)) out.set(`${key}\u0000${f}`, String(v));
        break;
      case 'string':
        out.set(key, `string:${await redis.get(key)}`);
        break;
      case 'zset':
        out.set(key, `zset:${JSON.stringify(await redis.zRangeWithScores(key, 0, -1))}`);
        break;
      case 'stream':
        out.set(key, `stream:${JSON.stringify(await redis.xRange(key, '-', '+'))}`);
        break;
      case 'set':
        out.set(key, `set:${JSON.stringify([...(await redis.sMembers(key))].sort())}`);
        break;
      case 'list':
        out.set(key, `list:${JSON.stringify(await redis.lRange(key, 0, -1))}`);
        break;
      default:
        out.set(key, `type:${type}`);
    }
  }
  return out;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Violation {
  kind: string;
  detail: string;
}

const exportDir = mkdtempSync(join(tmpdir(), 'callgate-fuzz-cdr-'));
afterAll(() => rmSync(exportDir, { recursive: true, force: true }));

describeOnRedis('fuzz: hostile admin API requests', (ctx) => {
  let server: FastifyInstance;
  let port = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  beforeAll(async () => {
    const c = ctx();
    const svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.loadRateDeck('std', DECK_CSV);
    await svc.loadRateDeck('d2', DECK_CSV);
    const base = { channels: 10, cps: 5, billingCountry: 'US', deckId: 'std' };
    await svc.putAccount('acme', { ...base, type: 'prepaid', ips: ['192.0.2.10'] }, { mode: 'create' });
    await svc.putAccount('post', { ...base, type: 'postpaid', creditLimit: '500', ips: ['192.0.2.11'] }, { mode: 'create' });
    await svc.putAccount('offacct', { ...base, type: 'prepaid', ips: ['192.0.2.12'] }, { mode: 'create' });
    await svc.applyFunds('acme', '100', 'seed');
    await svc.setStatus('offacct', 'off', 'fuzz: manual');
    await publishDayFile(c, join(exportDir, 'files'), 'acme', '20261203');
    ({ server, port } = await startTestAdmin(c, TOKEN, { registry: createCallRegistry() }));
  });

  afterAll(async () => {
    agent.destroy();
    await server?.close();
  });

  const call = (method: string, path: string, o: { auth?: string | null; body?: string | Buffer; contentType?: string } = {}) => {
    const headers: Record<string, string> = {};
    const auth = o.auth === undefined ? `Bearer ${TOKEN}` : o.auth;
    if (auth !== null) headers.authorization = auth;
    if (o.body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
    return send(port, agent, { method, path, headers, body: o.body === undefined ? undefined : Buffer.from(o.body), wrongAuth: false, template: '' });
  };

  it(`${CASES} seeded requests (and ${(CASES / BATCH) * CDR_PER_BATCH} on the CDR file routes): no 5xx, every error the JSON envelope, 401 for every wrong token, no change but from a 2xx`, { timeout: 120_000 }, async () => {
    const c = ctx();
    const prefix = c.config.redis.keyPrefix;
    const allowedKey = new RegExp(
      `^${escape(prefix)}(\\{a:([A-Za-z0-9_.-]{1,64})\\}:(acct|calls|expiry|cdrs|cdrfiles|cdraccess|events|payments|payments:at|tr:alerts|leases:[A-Za-z0-9_.-]{1,64})` +
        `|\\{catalog\\}:(accounts|decks)|\\{deck:([A-Za-z0-9_.-]{1,64})\\}:rates)$`,
    );
    const catalogKey = c.keys.catalog;
    const deckIndexKey = c.keys.deckIndex;
    const r = createPrng(SEED);
    const cdrR = createPrng(CDR_SEED);
    const violations: Violation[] = [];
    const statuses = new Map<number, number>();
    const byTemplate = new Map<string, Set<number>>();
    const codes = new Map<string, number>();
    let writes2xx = 0;
    let resetOnOversize = 0;
    brokenKeepAlive = 0;
    let refusedBatches = 0;
    let before = await snapshotState(c.conn.redis, prefix, c.conn.isCluster);
    const started = performance.now();

    for (let done = 0; done < CASES; done += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, CASES - done) }, () => generate(r, c.config.switchId));
      batch.push(...Array.from({ length: CDR_PER_BATCH }, () => generate(cdrR, c.config.switchId, CDR_TEMPLATES)));
      const touchedAccounts = new Set<string>();
      const touchedDecks = new Set<string>();
      const failedWrites: string[] = [];
      const failedWriteAccounts = new Set<string>();
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const req = batch[next++]!;
          const where = `${req.method} ${req.path.slice(0, 160)}${req.path.length > 160 ? '...' : ''} [${req.template}]`;
          let res: Res;
          try {
            res = await send(port, agent, req);
          } catch (err) {
            const message = (err as Error).message;
            // an oversize body may be answered 413 and the connection closed while the client still writes it
            if ((req.body?.length ?? 0) > MIB && /ECONNRESET|EPIPE/.test(message)) {
              resetOnOversize++;
              continue;
            }
            violations.push({ kind: 'no answer the client could read', detail: `${where} (body ${req.body?.length ?? 0} bytes): ${message}` });
            continue;
          }
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (!byTemplate.has(req.template)) byTemplate.set(req.template, new Set());
          byTemplate.get(req.template)!.add(res.status);
          const json = parseJson(res.text) as { error?: { code?: string }; id?: string; accountId?: string; deckId?: string; account?: { id?: string } | string } | undefined;
          if (json?.error?.code) codes.set(json.error.code, (codes.get(json.error.code) ?? 0) + 1);
          if (res.status >= 500) {
            violations.push({ kind: `${res.status} answer to ${req.template}`, detail: `${where} -> ${res.text.slice(0, 200)}` });
            if (req.method !== 'GET' && req.method !== 'HEAD') {
              failedWrites.push(where);
              const pathId = /^\/v1\/accounts\/([^/?]+)/.exec(req.path)?.[1];
              try {
                if (pathId) failedWriteAccounts.add(decodeURIComponent(pathId));
              } catch {
                /* not an id the server could have decoded either */
              }
            }
          }
          if (res.status >= 400 && req.method !== 'HEAD' && !isEnvelope(res)) {
            const source = res.text.includes('FST_ERR_BAD_URL')
              ? "fastify's bad-URL answer"
              : res.text.includes('"statusCode"')
                ? "fastify's default clientError answer (the HTTP parser refused the request)"
                : 'another answer';
            violations.push({
              kind: `${res.status} without the {error:{code,message}} envelope: ${source}`,
              detail: `${where} -> ${res.contentType} ${res.text.slice(0, 200)}`,
            });
          }
          const pathname = req.path.split('?', 1)[0]!;
          const isPublic = (req.method === 'GET' || req.method === 'HEAD') && PUBLIC_PATHS.has(pathname);
          // a request the HTTP parser refuses has no headers anyone can trust: 400 is its answer, token or not
          const unparsable = (res.status === 400 || res.status === 431) && res.text.includes('the request could not be parsed as HTTP');
          if (req.wrongAuth && !isPublic && res.status !== 401 && !unparsable) {
            violations.push({
              kind: res.status < 300 ? 'wrong token ACCEPTED' : `wrong token answered ${res.status}, not 401`,
              detail: `${where} auth=${JSON.stringify(req.headers.authorization ?? null).slice(0, 80)} -> ${res.text.slice(0, 160)}`,
            });
          }
          if (res.status >= 200 && res.status < 300 && req.method !== 'GET' && req.method !== 'HEAD') {
            writes2xx++;
            // account routes answer {account: {...}}; traffic routes {account: <id>, ...}; CDR access routes {accountId, ...}
            const id = typeof json?.account === 'string' ? json.account : json?.account?.id ?? json?.id ?? json?.accountId;
            if (typeof id === 'string') touchedAccounts.add(id);
            if (typeof json?.deckId === 'string') touchedDecks.add(json.deckId);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));

      const after = await snapshotState(c.conn.redis, prefix, c.conn.isCluster);
      if (touchedAccounts.size === 0 && touchedDecks.size === 0) refusedBatches++;
      const changed = new Set<string>();
      for (const [k, v] of after) if (before.get(k) !== v) changed.add(k);
      for (const k of before.keys()) if (!after.has(k)) changed.add(k);
      for (const entry of changed) {
        const [key, field] = entry.split('\u0000') as [string, string | undefined];
        const m = allowedKey.exec(key);
        if (!m) {
          violations.push({ kind: 'key outside the allowed patterns', detail: JSON.stringify(key) });
          continue;
        }
        const accountId = m[2];
        const deckId = m[5];
        const ok =
          (accountId !== undefined && touchedAccounts.has(accountId)) ||
          (deckId !== undefined && touchedDecks.has(deckId)) ||
          (key === catalogKey && field !== undefined && touchedAccounts.has(field)) ||
          (key === deckIndexKey && field !== undefined && touchedDecks.has(field));
        if (!ok) {
          violations.push({
            kind:
              (accountId !== undefined && failedWriteAccounts.has(accountId)) || (key === catalogKey && field !== undefined && failedWriteAccounts.has(field))
                ? 'state changed by a write that answered 5xx (it landed; the client was told it failed)'
                : 'state changed with no write answering 2xx or 5xx for it',
            detail:
              `${JSON.stringify(entry)} in batch ${done / BATCH} (2xx writes for accounts ${JSON.stringify([...touchedAccounts])}, ` +
              `decks ${JSON.stringify([...touchedDecks])}; writes answered 5xx: ${JSON.stringify(failedWrites)})`,
          });
        }
      }
      before = after;
    }
    const seconds = (performance.now() - started) / 1000;
    if (brokenKeepAlive > 0) {
      violations.push({
        kind: 'kept-alive connection unusable after the previous answer (the request was retried on a new connection)',
        detail: `${brokenKeepAlive} times`,
      });
    }

    // the server is still up and answering
    const health = await call('GET', '/healthz', { auth: null });
    expect(health.status).toBe(200);
    const keys = await allKeys(c.conn.redis, prefix, c.conn.isCluster);
    expect(keys.filter((k) => !allowedKey.test(k)), 'keys outside the account-slot patterns').toEqual([]);

    const byKind = new Map<string, string[]>();
    for (const v of violations) byKind.set(v.kind, [...(byKind.get(v.kind) ?? []), v.detail]);
    const report = [...byKind].map(([kind, details]) => `${details.length} x ${kind}\n    e.g. ${details.slice(0, 4).join('\n         ')}`).join('\n');
    console.log(
      `[fuzz-admin ${c.target}] ${CASES} requests in ${seconds.toFixed(1)} s (seed ${SEED}); statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; ` +
        `error codes ${JSON.stringify(Object.fromEntries(codes))}; 2xx writes ${writes2xx}; batches with no 2xx write ${refusedBatches}/${CASES / BATCH}; ` +
        `keys at the end ${keys.length}; oversize bodies cut off by the server ${resetOnOversize}; kept-alive connections found broken ${brokenKeepAlive}${report ? `\nVIOLATIONS:\n${report}` : ''}`,
    );
    // the fuzz reached every kind of answer, not only cheap refusals
    expect(writes2xx).toBeGreaterThan(200);
    for (const s of [200, 201, 400, 401, 404, 409, 413, 415]) expect(statuses.get(s) ?? 0, `status ${s} reached`).toBeGreaterThan(0);
    // traffic settings were both changed and refused: the generator reaches the service, not only the schema
    for (const s of [200, 400, 404]) expect([...(byTemplate.get('PATCH /v1/accounts/:id/traffic') ?? [])], `traffic PATCH reached ${s}`).toContain(s);
    // and so were the CDR access settings; the day file was served as well as refused
    for (const s of [200, 400, 404]) expect([...(byTemplate.get('PUT /v1/accounts/:id/cdr-access') ?? [])], `cdr-access PUT reached ${s}`).toContain(s);
    for (const s of [200, 400, 404]) expect([...(byTemplate.get('GET /v1/accounts/:id/cdrs/:day') ?? [])], `cdr file GET reached ${s}`).toContain(s);
    expect(report, 'violations').toBe('');
  });

  it('refuses every wrong token with 401, and accepts the right one in any scheme case', async () => {
    const wrong = [
      null,
      '',
      'Bearer',
      'Bearer ',
      ...Array.from({ length: TOKEN.length - 1 }, (_, i) => `Bearer ${TOKEN.slice(0, i + 1)}`), // every proper prefix
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN}${TOKEN}`,
      `Bearer x${TOKEN}`,
      `Bearer ${TOKEN.slice(1)}`,
      `Bearer ${TOKEN.toUpperCase()}`,
      `Bearer ${TOKEN[0]!.toUpperCase()}${TOKEN.slice(1)}`,
      `Bearer ${TOKEN.slice(0, 10)} ${TOKEN.slice(10)}`,
      `Bearer ${TOKEN} x`,
      `Bearer ${TOKEN},Bearer ${TOKEN}`,
      `Bearer${TOKEN}`,
      `Bearer\t${TOKEN}`,
      `Bearer:${TOKEN}`,
      `Bearer=${TOKEN}`,
      `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
      `Token ${TOKEN}`,
      `Bearer "${TOKEN}"`,
      `Bearer ${Buffer.from(TOKEN).toString('base64')}`,
      TOKEN,
      ` ${TOKEN}`,
    ];
    for (const auth of wrong) {
      for (const path of ['/v1/accounts/acme', '/v1/accounts', '/v1/no-such-route']) {
        const res = await call('GET', path, { auth });
        expect(res.status, `${JSON.stringify(auth)} ${path}`).toBe(401);
        expect(isEnvelope(res)).toBe(true);
        expect(JSON.parse(res.text).error.code).toBe('unauthorized');
      }
    }
    // the scheme is case-insensitive (RFC 7235); surrounding whitespace is not part of a header value (RFC 9110)
    for (const auth of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER ${TOKEN}`, `BeArEr ${TOKEN}`, `Bearer ${TOKEN}  `, `  Bearer ${TOKEN}`]) {
      expect((await call('GET', '/v1/accounts/acme', { auth })).status, JSON.stringify(auth)).toBe(200);
    }
  });

  it('refuses whitespace other than the one SP separator around the token (tab, NBSP) with 401', async () => {
    // RFC 6750: credentials = "Bearer" 1*SP b64token. Several SPs are the grammar's own; a tab or a no-break
    // space next to the token is not, and is part of a different credential.
    const variants = [`Bearer \t${TOKEN}`, `Bearer \u00a0${TOKEN}`, `Bearer ${TOKEN}\u00a0`, `Bearer ${TOKEN}\t\u00a0`];
    const accepted: string[] = [];
    for (const auth of variants) {
      // sent as Latin-1, as HTTP carries it: the server reads the very byte 0xA0 as U+00A0
      const res = await call('GET', '/v1/accounts/acme', { auth });
      if (res.status !== 401) accepted.push(`${JSON.stringify(auth.replace(TOKEN, '<token>'))} -> ${res.status}`);
    }
    expect(accepted, 'credentials with extra whitespace that were accepted').toEqual([]);
  });

  it('compares the token in constant time: crypto.timingSafeEqual over two SHA-256 digests, for every candidate', () => {
    const spy = vi.mocked(realCrypto.timingSafeEqual);
    const check = createBearerCheck(TOKEN);
    const candidates: (string | undefined)[] = [
      undefined, '', 'Bearer', 'Bearer ', `Bearer ${TOKEN}`, `bearer ${TOKEN}`, `Bearer ${TOKEN.slice(0, 5)}`, `Bearer ${TOKEN}x`,
      `Bearer ${'z'.repeat(10_000)}`, `Basic ${TOKEN}`, `Bearer ${TOKEN.toUpperCase()}`,
    ];
    for (const candidate of candidates) {
      spy.mockClear();
      const ok = check(candidate);
      expect(ok, JSON.stringify(candidate)).toBe(candidate === `Bearer ${TOKEN}` || candidate === `bearer ${TOKEN}`);
      // exactly one comparison, whatever the candidate (missing, short, long): same work for every refusal
      expect(spy, JSON.stringify(candidate)).toHaveBeenCalledTimes(1);
      const [a, b] = spy.mock.calls[0]! as unknown as [Buffer, Buffer];
      expect(Buffer.isBuffer(a) && Buffer.isBuffer(b)).toBe(true);
      expect([a.length, b.length]).toEqual([32, 32]);
      expect(b.equals(realCrypto.createHash('sha256').update(TOKEN).digest())).toBe(true);
    }
  });

  it('answers a JSON 413 for a body over the limit on every JSON write route and on the rate deck upload, writing nothing', { timeout: 60_000 }, async () => {
    const c = ctx();
    const before = await snapshotState(c.conn.redis, c.config.redis.keyPrefix, c.conn.isCluster);
    const big = JSON.stringify({ name: 'z'.repeat(MIB) });
    const routes: [string, string][] = [
      ['POST', '/v1/accounts'],
      ['PUT', '/v1/accounts/acme'],
      ['PATCH', '/v1/accounts/acme'],
      ['PUT', '/v1/accounts/acme/limits'],
      ['PUT', '/v1/accounts/acme/status'],
      ['POST', '/v1/accounts/acme/payments'],
      ['PATCH', '/v1/accounts/acme/traffic'],
      ['PUT', '/v1/accounts/acme/cdr-access'],
    ];
    for (const [method, path] of routes) {
      const res = await call(method, path, { body: big });
      expect(res.status, `${method} ${path}`).toBe(413);
      expect(isEnvelope(res)).toBe(true);
      expect(JSON.parse(res.text).error.code).toBe('payload_too_large');
      // without the token the answer is 401 before the body is read
      expect((await call(method, path, { body: big, auth: 'Bearer nope' })).status).toBe(401);
    }
    const hugeCsv = `prefix,rate_per_min,first_increment,next_increment\n${'44,0.01,6,6\n'.repeat(Math.ceil((20 * MIB) / 12) + 10)}`;
    const csv = await call('PUT', '/v1/ratedecks/std', { body: hugeCsv, contentType: 'text/csv' });
    expect(csv.status).toBe(413);
    expect(isEnvelope(csv)).toBe(true);
    expect(JSON.parse(csv.text).error.code).toBe('payload_too_large');
    // the JSON limit applies to JSON, the CSV limit to CSV: a 2 MiB deck is not refused for its size
    const deck2MiB = `prefix,rate_per_min,first_increment,next_increment\n${Array.from({ length: 170_000 }, (_, i) => `${100000 + i},0.01,6,6`).join('\n')}\n`;
    expect(deck2MiB.length).toBeGreaterThan(2 * MIB);
    const mid = await call('PUT', '/v1/ratedecks/bigdeck', { body: deck2MiB, contentType: 'text/csv' });
    expect(mid.status, mid.text.slice(0, 200)).toBe(200);
    await c.conn.redis.del(c.keys.deck('bigdeck'));
    await c.conn.redis.hDel(c.keys.deckIndex, 'bigdeck');
    expect(await snapshotState(c.conn.redis, c.config.redis.keyPrefix, c.conn.isCluster)).toEqual(before);
  });

  it('answers a malformed percent-encoding in a path id with the JSON envelope, like any other bad id', async () => {
    const bad: string[] = [];
    for (const path of ['/v1/accounts/%zz', '/v1/accounts/%E0%A4%A', '/v1/accounts/acme%/limits', '/v1/ratedecks/%C3', '/v1/switches/%/calls']) {
      const res = await call('GET', path);
      if (res.status >= 500 || !isEnvelope(res)) bad.push(`${path} -> ${res.status} ${res.contentType} ${res.text.slice(0, 160)}`);
    }
    expect(bad, 'answers outside the {error:{code,message}} envelope').toEqual([]);
  });

  it('never lets payments push a balance past the largest amount callgate can show (MAX_MICROS)', async () => {
    const c = ctx();
    const svc = createAccountService({ redis: c.conn.redis, keys: c.keys, engine: c.engine, config: c.config });
    await svc.putAccount('whale', { type: 'prepaid', channels: 1, cps: 1, billingCountry: 'US', deckId: 'std', ips: ['192.0.2.99'] }, { mode: 'create' });
    const answers: string[] = [];
    for (const paymentId of ['w1', 'w2', 'w3']) {
      const res = await call('POST', '/v1/accounts/whale/payments', { body: JSON.stringify({ amountUsd: '999999999.999999', paymentId }) });
      answers.push(`payment ${paymentId}: ${res.status} ${res.text.slice(0, 120)}`);
      expect(res.status, answers.join('\n')).toBeLessThan(500);
    }
    const got = await call('GET', '/v1/accounts/whale');
    expect(got.status, `GET after the payments: ${got.text.slice(0, 200)}\n${answers.join('\n')}`).toBe(200);
    const balance = Number(await c.conn.redis.hGet(c.keys.account('whale'), 'balance'));
    expect(Math.abs(balance)).toBeLessThanOrEqual(MAX_MICROS);
  });
}, { cdrExport: { dir: exportDir } });

describe('fuzz-admin generator', () => {
  it('is deterministic for a seed', () => {
    const a = createPrng(SEED);
    const b = createPrng(SEED);
    for (let i = 0; i < 200; i++) expect(generate(a, 'sw1')).toEqual(generate(b, 'sw1'));
  });
});
