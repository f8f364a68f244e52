import { describe, expect, it } from 'vitest';
import pino from 'pino';
import Srf from 'drachtio-srf';
import { resolveConfig } from '../config/load.js';
import type { RejectedAttempt } from '../cdr/builder.js';
import { createMetrics } from '../metrics/metrics.js';
import { createOverloadGuard, type LoadSignals } from '../admission/overload.js';
import { admissionControl, inviteFacts, requestUriRefusal, userOf, type AdmissionControlDeps } from './middleware.js';

const config = resolveConfig({ logLevel: 'silent' });

/** Only what admission reads of an INVITE, and what it sends back. */
function invite(uri = 'sip:4420712345678@198.51.100.1', headers: Record<string, string> = { 'Call-ID': 'abc@203.0.113.7' }) {
  const req = {
    locals: {},
    uri,
    source_address: '203.0.113.7',
    stackTime: '12:00:00.250000',
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
function runMiddleware(admitInvite: () => Promise<never>, uri?: string, level = 'error', extra: Partial<AdmissionControlDeps> = {}) {
  const errors: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => errors.push(JSON.parse(line)) });
  const attempts: RejectedAttempt[] = [];
  const mw = admissionControl({ admitInvite, config, logger, recordRejection: (a) => attempts.push(a), ...extra });
  const { req, res, sent } = invite(uri);
  return new Promise<{ sent: typeof sent; nextArgs: unknown[] | undefined; errors: typeof errors; attempts: RejectedAttempt[] }>((done) => {
    let nextArgs: unknown[] | undefined;
    const original = res.send.bind(res);
    res.send = ((...args: Parameters<typeof original>) => {
      original(...args);
      setImmediate(() => done({ sent, nextArgs, errors, attempts }));
    }) as typeof res.send;
    mw(req, res, (...args: unknown[]) => {
      nextArgs = args;
      done({ sent, nextArgs, errors, attempts });
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

describe('the Request-URI edges', () => {
  const neverAdmits = async (): Promise<never> => {
    throw new Error('admission must not be reached');
  };

  it('refuses a Request-URI user with a password part, before admission, with 400 and its Reason', async () => {
    for (const uri of ['sip:4420712345678:secret@198.51.100.1', 'sip:4420:@198.51.100.1']) {
      const { sent, nextArgs, attempts, errors } = await runMiddleware(neverAdmits, uri, 'debug');
      expect(nextArgs).toBeUndefined();
      expect(sent).toEqual([{ status: 400, headers: { Reason: 'SIP;cause=400;text="Request-URI user carries a password"' } }]);
      expect(attempts).toEqual([expect.objectContaining({ reason: 'invalid_request_uri', sipCode: 400 })]);
      // one debug line from the call's own logger, with callgate's ids
      expect(errors).toEqual([expect.objectContaining({ level: 20, reason: 'invalid_request_uri', callId: attempts[0]!.callId, switchId: 'sw1' })]);
    }
  });

  it('refuses a dialed number longer than sip.maxDialedLength, tech prefix included, with 414 and its Reason', async () => {
    const long = `1001%23${'4'.repeat(28)}`; // 1001# and 28 digits: 33 characters once decoded
    const { sent, attempts } = await runMiddleware(neverAdmits, `sip:${long}@198.51.100.1`);
    expect(sent).toEqual([{ status: 414, headers: { Reason: 'SIP;cause=414;text="Dialed number too long"' } }]);
    expect(attempts[0]).toMatchObject({ reason: 'number_too_long' });
    expect(requestUriRefusal(`sip:1001%23${'4'.repeat(27)}@h`, 32)).toBeUndefined();
    expect(requestUriRefusal(`sip:${'4'.repeat(33)}@h`, 32)).toBe('number_too_long');
    expect(requestUriRefusal('sip:44%3A20@h', 32)).toBeUndefined(); // an escaped colon is part of the user, not a password
  });

  it('replaces the control characters a decoded escape or a header carries by U+FFFD', () => {
    expect(userOf('sip:44%0020@h')).toBe('44\ufffd20');
    expect(userOf('sip:44%0D%0Ax@h')).toBe('44\ufffd\ufffdx');
    expect(userOf('sip:44%7F%C2%85@h')).toBe('44\ufffd\ufffd'); // DEL and NEL (C1)
    expect(userOf('sip:1001%23442071234567@h')).toBe('1001#442071234567');
    expect(userOf('sip:%E2%82%AC1@h')).toBe('\u20ac1'); // printable non-ASCII stays
    const { req } = invite('sip:44%0020@h', { 'Call-ID': 'a\u0000b', 'X-Callgate-Account': 'ac\u001bme' });
    const facts = inviteFacts(req, 'X-Callgate-Account', 0);
    expect(facts).toMatchObject({ ruriUser: '44\ufffd20', toUser: '44\ufffd20', sipCallId: 'a\ufffdb', trustedAccountId: 'ac\ufffdme' });
  });
});

describe('the overload guard at the INVITE edge', () => {
  const idle: LoadSignals = { eventLoopDelayMs: 0, inFlight: 0, admitLatencyShare: 0, inviteWaitMs: 0, hostCpuBusy: 0, hostCpuLevel: 0 };
  /** A guard over a load the test sets (in flight 250-1000 by default: 750 is level 2/3), drawing the given randoms in turn. */
  const guardAt = (inFlight: number, randoms = [0.5]) => {
    let i = 0;
    return createOverloadGuard({ config: config.overload, signals: () => ({ ...idle, inFlight }), random: () => randoms[i++ % randoms.length]! });
  };
  const neverAdmits = async (): Promise<never> => {
    throw new Error('admission must not be reached');
  };

  it('refuses a shed INVITE with 503 and the overload Reason, counted and recorded, without running admission', async () => {
    const metrics = createMetrics();
    const { sent, nextArgs, attempts, errors } = await runMiddleware(neverAdmits, undefined, 'error', { overload: guardAt(750), metrics });
    expect(nextArgs).toBeUndefined();
    expect(errors).toEqual([]); // admission never ran, so never failed
    expect(sent).toEqual([{ status: 503, headers: { Reason: 'SIP;cause=503;text="Overloaded: call shed, try again later"' } }]);
    expect(attempts).toEqual([expect.objectContaining({ reason: 'overloaded', sipCode: 503, switchId: 'sw1' })]);
    expect(attempts[0]!.seed).toMatchObject({ sipCallId: 'abc@203.0.113.7', srcIp: '203.0.113.7', accountId: null });
    const counted = (await metrics.invites.get()).values.find((v) => v.labels.reason === 'overloaded');
    expect(counted).toMatchObject({ value: 1, labels: { outcome: 'rejected' } });
  });

  it('adds a jittered Retry-After within overload.retryAfterSeconds when the load is severe', async () => {
    for (const [draw, retry] of [[0, '2'], [0.5, '6'], [0.9999, '10']] as const) {
      const { sent } = await runMiddleware(neverAdmits, undefined, 'error', { overload: guardAt(1250, [0, draw]) });
      expect(sent).toEqual([{ status: 503, headers: { Reason: expect.stringContaining('Overloaded'), 'Retry-After': retry } }]);
    }
  });

  it('admits as before when the guard does not shed, telling the load monitor of the INVITE and of the admission in flight until it answers', async () => {
    const seen: string[] = [];
    const load = {
      inviteReceived: (stamp: string | undefined) => seen.push(`received ${stamp}`),
      admissionStarted: () => seen.push('started'),
      admissionEnded: () => seen.push('ended'),
    };
    const admitInvite = async (): Promise<never> => {
      seen.push('admit');
      throw new Error('redis away');
    };
    const { sent } = await runMiddleware(admitInvite, undefined, 'silent', { overload: guardAt(0, [0]), load });
    expect(seen).toEqual(['received 12:00:00.250000', 'started', 'admit', 'ended']);
    expect(sent[0]!.status).toBe(503);
    expect(sent[0]!.headers.Reason).not.toContain('Overloaded');
  });

  it('never sees ACK, BYE, CANCEL or any request of a known dialog, mounted as callgate mounts it', () => {
    let checks = 0;
    const always = { check: () => { checks += 1; return { shed: true as const, level: 1, severe: true, retryAfterSeconds: 5 }; } };
    const srf = new Srf();
    srf.use('invite', admissionControl({ admitInvite: neverAdmits, config, logger: pino({ level: 'silent' }), overload: always }));
    const dialogHandled: string[] = [];
    const dialogs = (srf as unknown as { _dialogs: Map<string, unknown> })._dialogs;
    dialogs.set('dlg-1', { handle: (req: { method: string }) => dialogHandled.push(req.method) });
    const app = (srf as unknown as { app: unknown }).app as { handle(req: unknown, res: unknown, out: () => void): void };
    const through: string[] = [];
    const request = (method: string, stackDialogId?: string) => {
      const { req, res, sent } = invite();
      Object.assign(req, { method, stackDialogId });
      app.handle(req, res, () => through.push(method));
      return sent;
    };
    for (const method of ['ACK', 'BYE', 'CANCEL', 'INFO']) expect(request(method)).toEqual([]);
    for (const method of ['INVITE', 'BYE', 'UPDATE']) expect(request(method, 'dlg-1')).toEqual([]); // re-INVITE, BYE, UPDATE in dialog
    expect(checks).toBe(0);
    expect(through).toEqual(['ACK', 'BYE', 'CANCEL', 'INFO']);
    expect(dialogHandled).toEqual(['INVITE', 'BYE', 'UPDATE']);
    // and a new INVITE, on the same chain, is shed
    expect(request('INVITE')).toEqual([{ status: 503, headers: expect.objectContaining({ 'Retry-After': '5' }) }]);
    expect(checks).toBe(1);
  });
});
