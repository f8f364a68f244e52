/**
 * The SIP edges through real drachtio-server and SIPp (issue 12, item 8): control characters escaped in the
 * Request-URI user never reach a CDR file raw; a password part and an over-long number are refused before
 * admission with a Reason; an upstream failure's final response carries one; a call callgate tears down
 * leaves one log line, on the call's child logger, that says why.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NUMBERS, describeE2E, runSipp, useE2E, type Callgate, type CdrLine, type E2E, type SippResult } from './harness.js';

/** Every byte of every CDR file (CSV and JSONL) under the block's CDR folder, as text. */
function cdrFileText(e2e: E2E): string {
  let text = '';
  for (const day of readdirSync(e2e.cdrDir, { withFileTypes: true })) {
    if (!day.isDirectory() || day.name === 'journal') continue;
    for (const f of readdirSync(join(e2e.cdrDir, day.name))) text += readFileSync(join(e2e.cdrDir, day.name, f), 'utf8');
  }
  return text;
}

/** The Reason header of the final response, as the scenario logged it. */
const reasonOf = (run: SippResult) => run.logLines.map((l) => /reason=(.*)$/.exec(l)?.[1] ?? '').filter(Boolean);

/** callgate's JSON log lines (pino) about one call. */
function logLinesOf(callgate: Callgate, callId: string): Record<string, unknown>[] {
  return callgate.child.output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((l) => l.callId === callId);
}

async function refusedCdr(e2e: E2E, run: SippResult, reason: string, sipCode: number): Promise<CdrLine> {
  const [cdr, ...more] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
  expect(more).toHaveLength(0);
  expect(cdr).toMatchObject({ disposition: 'rejected', reason, sip_code: sipCode, account_id: null, billed_sec: 0, total: 0 });
  return cdr!;
}

describeE2E('e2e: SIP edges', () => {
  const e2e = useE2E({ name: 'sip-edges' });

  for (const [name, escaped, replaced] of [
    ['NUL', '%00', '\ufffd'],
    ['CR LF', '%0D%0A', '\ufffd\ufffd'],
  ] as const) {
    it(`a ${name} escaped in the Request-URI user reaches the CDR files as U+FFFD, never raw`, async () => {
      const acct = await e2e.createAccount({ funds: '10' });
      // the destination is no number any rate matches: the INVITE is refused, and its attempt CDR written
      const run = await runSipp({
        name: `control-${name.replace(' ', '')}`, scenario: 'uac-expect-403', target: e2e.target, service: acct.dial(`4420${escaped}712345678`),
        timeoutMs: 15_000,
      });
      expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
      const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
      expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'rejected', reason: 'no_rate', to: `4420${replaced}712345678` });
      expect(e2e.csvRowsOfRun(run.callIdPrefix)).toEqual([expect.objectContaining({ to: `4420${replaced}712345678` })]);
      const files = cdrFileText(e2e);
      // no control byte but the CSV's own CRLF record ends and the JSONL's LF line ends
      expect(files.replace(/\r\n|\n/g, '')).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      expect(files).not.toMatch(/\\u00[01][0-9a-f]|\\[rn]/i); // nor a JSON escape of one
    });
  }

  it('refuses a Request-URI user with a password part with 400 and a Reason, before admission', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const run = await runSipp({
      name: 'password', scenario: 'uac-expect-400', target: e2e.target, service: `${acct.dial(NUMBERS.london)}:7123secret`, timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonOf(run)).toEqual([expect.stringMatching(/cause=400;text="Request-URI user carries a password"/)]);
    await refusedCdr(e2e, run, 'invalid_request_uri', 400);
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 10_000_000, reserved: 0 });
  });

  it('refuses a dialed number longer than 32 characters (tech prefix included) with 414 and a Reason', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const number = `4420${'7'.repeat(32 - acct.techPrefix.length - 4 + 1)}`; // one over the limit
    const run = await runSipp({ name: 'too-long', scenario: 'uac-expect-414', target: e2e.target, service: acct.dial(number), timeoutMs: 15_000 });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonOf(run)).toEqual([expect.stringMatching(/cause=414;text="Dialed number too long"/)]);
    const cdr = await refusedCdr(e2e, run, 'number_too_long', 414);
    expect(cdr.to).toBe(acct.dial(number));
  });

  it('a call callgate tears down leaves one log line that says why, with its ids', async () => {
    // $3.20 pays for the first 6 s reservation at $0.50 a second; the 7th second is more than the $0.20 left
    const acct = await e2e.createAccount({ funds: '3.20', billingCountry: 'GB' });
    const run = await runSipp({ name: 'torn-down-log', scenario: 'uac-expect-bye', target: e2e.target, service: acct.dial(NUMBERS.perSecond), timeoutMs: 25_000 });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({ disposition: 'torn_down', reason: 'funds_exhausted' });
    const lines = logLinesOf(e2e.callgate!, cdr!.call_id);
    expect(lines, e2e.callgate!.child.logPath).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30, msg: 'call ended: torn_down (funds_exhausted)', callId: cdr!.call_id, accountId: acct.id, switchId: 'sw1',
      sipCallId: cdr!.sip_call_id, end: 'funds', disposition: 'torn_down', reason: 'funds_exhausted', billedSec: cdr!.billed_sec, total: cdr!.total,
    });
  });
});

describeE2E('e2e: an upstream failure', () => {
  const e2e = useE2E({ name: 'sip-edges-upstream', uas: 'uas-reject-503' });

  it("passes the switch's 503 back with callgate's own Reason, and logs the end at info", async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const run = await runSipp({ name: 'upstream-503', scenario: 'uac-expect-503', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 15_000 });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonOf(run)).toEqual([expect.stringMatching(/^SIP;cause=503;text="Upstream failure"/)]);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'failed', reason: 'upstream_failure', sip_code: 503, total: 0 });
    const ends = logLinesOf(e2e.callgate!, cdr!.call_id).filter((l) => String(l.msg).startsWith('call ended'));
    expect(ends).toEqual([expect.objectContaining({ level: 30, end: 'upstream_failure', disposition: 'failed', reason: 'upstream_failure', sipCode: 503 })]);
  });
});

describeE2E('e2e: a B leg that cannot be set up', () => {
  // a transport drachtio-server does not have: it cannot send the INVITE, and drachtio-srf answers 500 itself
  const e2e = useE2E({ name: 'sip-edges-no-leg', env: { CALLGATE_ROUTE_URIS: 'sip:switch;transport=xyz' } });

  it('answers 500 with a Reason', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const run = await runSipp({ name: 'upstream-500', scenario: 'uac-expect-500', target: e2e.target, service: acct.dial(NUMBERS.london), timeoutMs: 40_000 });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(reasonOf(run)).toEqual([expect.stringMatching(/^SIP;cause=500;text="Upstream failure"/)]);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'failed', reason: 'upstream_failure', sip_code: 500, total: 0 });
  });
});
