import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type Srf from 'drachtio-srf';
import { resolveConfig } from '../config/load.js';
import type { RejectedAttempt } from '../cdr/builder.js';
import { admissionControl } from './middleware.js';

const config = resolveConfig({ logLevel: 'silent' });

/** Only what admission reads of an INVITE, and what it sends back. */
function invite() {
  const headers: Record<string, string> = { 'Call-ID': 'abc@203.0.113.7' };
  const req = {
    locals: {},
    uri: 'sip:4420712345678@198.51.100.1',
    source_address: '203.0.113.7',
    get: (name: string) => headers[name],
    has: (name: string) => name in headers,
    getParsedHeader: () => ({ uri: 'sip:15551230000@203.0.113.7' }),
  };
  const sent: { status: number; headers: Record<string, string> }[] = [];
  const res = {
    finalResponseSent: false,
    send(status: number, opts?: { headers?: Record<string, string> }) {
      sent.push({ status, headers: opts?.headers ?? {} });
      res.finalResponseSent = true;
    },
  };
  return { req: req as unknown as Srf.SrfRequest, res: res as unknown as Srf.SrfResponse, sent };
}

/** Resolves once the middleware has either answered or called next(). */
function runMiddleware(admitInvite: () => Promise<never>) {
  const errors: unknown[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => errors.push(JSON.parse(line)) });
  const attempts: RejectedAttempt[] = [];
  const mw = admissionControl({ admitInvite, config, logger, recordRejection: (a) => attempts.push(a) });
  const { req, res, sent } = invite();
  return new Promise<{ sent: typeof sent; nextArgs: unknown[] | undefined; errors: unknown[] }>((done) => {
    let nextArgs: unknown[] | undefined;
    const original = res.send.bind(res);
    res.send = ((...args: Parameters<typeof original>) => {
      original(...args);
      setImmediate(() => done({ sent, nextArgs, errors }));
    }) as typeof res.send;
    mw(req, res, (...args: unknown[]) => {
      nextArgs = args;
      done({ sent, nextArgs, errors });
    });
  });
}

describe('admission fails closed by itself', () => {
  it('answers 503 unavailable with its Reason when admission throws, logs it, and never calls next()', async () => {
    const { sent, nextArgs, errors } = await runMiddleware(async () => {
      throw new Error('directory exploded');
    });
    expect(nextArgs).toBeUndefined();
    expect(sent).toEqual([{ status: 503, headers: { Reason: expect.stringMatching(/^SIP;cause=503;text="/) } }]);
    expect(errors).toEqual([expect.objectContaining({ msg: 'admission failed on an INVITE', sipCallId: 'abc@203.0.113.7' })]);
  });
});
