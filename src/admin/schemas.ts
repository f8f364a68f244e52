/**
 * JSON schemas of the admin API: the shape of every request (params, querystring, body) and of every 2xx
 * reply. They check JSON types only, and deliberately admit a superset of what the account service accepts:
 * the values themselves (ids, amounts, limits, addresses) are judged by src/accounts, the same code the CLI
 * runs, so the API and the CLI can never disagree on what is valid. A value the schema lets through but the
 * service refuses still gets a 400 with the service's own problem texts.
 *
 * Validation runs with coercion and property removal turned off (see server.ts): a body is never silently
 * altered, and an unknown field is refused rather than dropped.
 */
import type { AccountField } from '../accounts/settings.js';

const text = { type: 'string' } as const;
const integer = { type: 'integer' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const nullableInteger = { type: ['integer', 'null'] } as const;
/**
 * Counts (channels, cps, burst) are JSON integers: "5" and true are refused. 5.0 is the integer 5 once JSON is
 * parsed, so it is accepted as 5; 5.5 is refused.
 */
const count = (description: string) => ({ type: 'integer', description }) as const;
/**
 * Amounts are decimal dollars as JSON strings ("12.50"), never JSON numbers, which cannot carry every amount
 * exactly. The service judges the text (at most 6 decimals, no exponent, no separators, the maximum).
 */
const amount = (description: string) => ({ type: 'string', description: `decimal dollars as a string, at most 6 decimals; ${description}` }) as const;

/**
 * What a field must be, for a refusal by the schema's type check: said as the service says it, and in
 * terms of the JSON to send. Keyed by field name.
 */
export const TYPE_PROBLEMS: Readonly<Record<string, string>> = {
  channels: 'must be a whole number as a JSON integer (for example 5), not a string or true/false',
  cps: 'must be a whole number as a JSON integer (for example 5), not a string or true/false',
  burst: 'must be a whole number as a JSON integer (for example 5), not a string or true/false',
  creditLimit: 'must be decimal dollars as a JSON string (for example "5000.00"), not a JSON number',
  lowBalanceThreshold: 'must be decimal dollars as a JSON string (for example "2.50"), not a JSON number',
  amountUsd: 'must be decimal dollars as a JSON string (for example "12.50"), not a JSON number',
  password: 'must be text (a JSON string)',
  authorizedKeys: 'must be a JSON array of OpenSSH public key lines (strings)',
  includeRefused: 'must be true or false (a JSON boolean)',
};
const params = (...names: string[]) => ({
  type: 'object',
  required: names,
  additionalProperties: false,
  properties: Object.fromEntries(names.map((n) => [n, { ...text, description: '[A-Za-z0-9_.-]{1,64}' }])),
});
const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

/** One entry per account field the service knows; `satisfies` keeps this list and the service's in step. */
export const accountFieldProperties = {
  type: { ...text, description: 'prepaid | postpaid' },
  name: text,
  creditLimit: amount('postpaid only'),
  channels: count('concurrent calls per switch, 0-100000'),
  cps: count('calls per second, 0-10000'),
  burst: count('0-100000; defaults to cps'),
  fusfOnFile: { type: 'boolean' },
  billingCountry: { ...text, description: 'ISO 3166 alpha-2, any case' },
  lowBalanceThreshold: amount('notify when available funds fall below it'),
  deckId: text,
  ips: { type: 'array', items: text, description: 'IPv4/IPv6 addresses or CIDR blocks' },
  techPrefix: { ...nullableText, description: 'null or "" clears it' },
} as const satisfies Record<AccountField, object>;

const accountBody = { type: 'object', additionalProperties: false, properties: accountFieldProperties } as const;

const money = (name: string) => ({ [name]: integer, [`${name}Usd`]: text });

/** An account as every account route returns it (accountToJson). */
export const accountReply = {
  type: 'object',
  properties: {
    id: text,
    type: text,
    name: text,
    status: text,
    offReason: nullableText,
    statusNote: text,
    statusChangedAt: nullableText,
    ...money('balance'),
    ...money('reserved'),
    ...money('available'),
    owed: nullableInteger,
    owedUsd: nullableText,
    ...money('creditLimit'),
    ...money('lowBalanceThreshold'),
    channels: integer,
    cps: integer,
    burst: integer,
    fusfOnFile: { type: 'boolean' },
    billingCountry: text,
    taxExempt: { type: 'boolean' },
    deckId: text,
    ips: { type: 'array', items: text },
    techPrefix: nullableText,
    updatedAt: nullableText,
    liveCalls: {
      type: 'object',
      properties: { total: integer, bySwitch: { type: 'object', additionalProperties: integer } },
    },
  },
} as const;

const liveCall = {
  type: 'object',
  properties: {
    callId: text,
    accountId: text,
    switchId: text,
    state: text,
    invitedAt: nullableText,
    answeredAt: nullableText,
    lastBeatAt: nullableText,
    talkMs: integer,
    billedSec: integer,
    ...money('reserved'),
    ...money('committed'),
    cost: integer,
    tax: integer,
    from: nullableText,
    to: nullableText,
    srcIp: nullableText,
    sipCallId: nullableText,
    prefix: nullableText,
    ratePerMin: nullableInteger,
  },
} as const;

const bySwitch = { type: 'object', additionalProperties: integer } as const;

export const schemas = {
  createAccount: {
    querystring: noQuery,
    body: { ...accountBody, required: ['id'], properties: { id: text, ...accountFieldProperties } },
    response: { 201: accountReply },
  },
  putAccount: { params: params('id'), querystring: noQuery, body: accountBody, response: { 200: accountReply, 201: accountReply } },
  patchAccount: { params: params('id'), querystring: noQuery, body: accountBody, response: { 200: accountReply } },
  getAccount: { params: params('id'), querystring: noQuery, response: { 200: accountReply } },
  listAccounts: {
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { cursor: text, limit: { ...text, description: 'whole number 1-1000, a hint (default 100)' } },
    },
    response: {
      200: {
        type: 'object',
        properties: { ids: { type: 'array', items: text }, nextCursor: nullableText },
      },
    },
  },
  setLimits: {
    params: params('id'),
    querystring: noQuery,
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { channels: accountFieldProperties.channels, cps: accountFieldProperties.cps, burst: accountFieldProperties.burst },
    },
    response: { 200: accountReply },
  },
  setStatus: {
    params: params('id'),
    querystring: noQuery,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['status'],
      properties: { status: { ...text, description: 'on | off, any case' }, note: text },
    },
    response: { 200: accountReply },
  },
  applyPayment: {
    params: params('id'),
    querystring: noQuery,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['amountUsd', 'paymentId'],
      properties: {
        amountUsd: amount('more than 0'),
        paymentId: { ...text, description: 'the client\'s own id of this payment: 1-128 of A-Z a-z 0-9 _ . : -' },
      },
    },
    response: {
      '2xx': {
        type: 'object',
        properties: { outcome: text, paymentId: text, ...money('amount'), account: accountReply },
      },
    },
  },
  loadRateDeck: {
    params: params('deckId'),
    querystring: noQuery,
    body: { type: 'string' },
    response: { 200: { type: 'object', properties: { deckId: text, prefixes: integer, version: text } } },
  },
  getRateDeck: {
    params: params('deckId'),
    querystring: noQuery,
    response: { 200: { type: 'object', properties: { deckId: text, version: text } } },
  },
  accountCalls: {
    querystring: {
      type: 'object',
      additionalProperties: false,
      required: ['accountId'],
      properties: { accountId: text, switchId: text },
    },
    response: {
      200: {
        type: 'object',
        properties: { accountId: text, total: integer, bySwitch, calls: { type: 'array', items: liveCall } },
      },
    },
  },
  switchCalls: {
    params: params('switchId'),
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { limit: { ...text, description: 'whole number 1-10000 (default 1000)' } },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          switchId: text,
          source: { ...text, description: 'registry (this instance) | redis (scan of every account)' },
          total: integer,
          truncated: { type: 'boolean' },
          calls: { type: 'array', items: liveCall },
        },
      },
    },
  },
  usage: {
    params: params('id'),
    querystring: noQuery,
    response: {
      200: {
        type: 'object',
        properties: {
          accountId: text,
          at: text,
          status: text,
          offReason: nullableText,
          ...money('balance'),
          ...money('reserved'),
          ...money('available'),
          channels: {
            type: 'object',
            properties: { limitPerSwitch: integer, total: integer, bySwitch },
          },
          cps: {
            type: 'object',
            properties: { limit: integer, burst: integer, recent: { type: 'number' }, windowSeconds: integer, method: text },
          },
          burn: {
            type: 'object',
            properties: { perSecond: { type: 'number' }, perHour: integer, perHourUsd: text },
          },
          depletion: {
            type: 'object',
            properties: { secondsToDepletion: nullableInteger, depletesAt: nullableText },
          },
        },
      },
    },
  },
} as const;
