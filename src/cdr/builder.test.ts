import { describe, expect, it } from 'vitest';
import {
  cdrDay,
  cdrFromRejection,
  cdrFromStreamEntry,
  CSV_COLUMNS,
  CSV_HEADER,
  neutraliseFormula,
  streamIdTimeMs,
  toCsvRow,
  toJsonLine,
  type RejectedAttempt,
} from './builder.js';
import type { AdmittedSeed, CdrSeed } from '../model/index.js';

const T0 = 1_709_294_400_000; // 2024-03-01T12:00:00.000Z

const staticCdr: AdmittedSeed = {
  sipCallId: 'a84b4c76e66710@10.0.0.1',
  accountId: 'acme',
  from: 'sip:+15551230000@10.0.0.1',
  to: 'sip:442071234567@gw.example.net',
  srcIp: '10.0.0.1',
  invitedAt: T0,
  prefix: '4420',
  ratePerMin: 12_000,
  connectFee: 500,
  firstIncrement: 6,
  nextIncrement: 6,
  taxExempt: false,
};

/** What finalize-14.lua XADDs for a 60.75 s call billed 66 s at $0.012/min + $0.0005, with 17.4% tax. */
const answeredFields = (over: Partial<AdmittedSeed> = {}, fields: Record<string, string> = {}) => ({
  callId: 'c-1',
  static: JSON.stringify({ ...staticCdr, ...over }),
  switchId: 'sw1',
  disposition: 'answered',
  reason: 'normal_clearing',
  sipCode: '200',
  answeredAt: String(T0 + 2_500),
  endedAt: String(T0 + 63_250),
  talkMs: '60750',
  billedSec: '66',
  cost: '13700',
  tax: '2384',
  total: '16084',
  balanceAfter: '9983916',
  ...fields,
});

describe('CSV header', () => {
  it('lists the columns in their documented order', () => {
    expect(CSV_HEADER).toBe(
      'call_id,sip_call_id,account_id,switch_id,from,to,source_ip,invited_at,answered_at,ended_at,duration_ms,billsec,' +
        'billed_sec,sip_code,disposition,reason,prefix,rate_per_min,connect_fee,cost,tax,total',
    );
    expect(CSV_COLUMNS).toHaveLength(22);
  });
});

describe('cdrFromStreamEntry', () => {
  it('builds an answered, taxed call', () => {
    const cdr = cdrFromStreamEntry(answeredFields());
    expect(cdr).toEqual({
      callId: 'c-1',
      sipCallId: 'a84b4c76e66710@10.0.0.1',
      accountId: 'acme',
      switchId: 'sw1',
      from: 'sip:+15551230000@10.0.0.1',
      to: 'sip:442071234567@gw.example.net',
      srcIp: '10.0.0.1',
      invitedAt: T0,
      answeredAt: T0 + 2_500,
      endedAt: T0 + 63_250,
      durationMs: 63_250,
      billsec: 61,
      billedSec: 66,
      sipCode: 200,
      disposition: 'answered',
      reason: 'normal_clearing',
      prefix: '4420',
      ratePerMin: 12_000,
      connectFee: 500,
      firstIncrement: 6,
      nextIncrement: 6,
      cost: 13_700,
      tax: 2_384,
      total: 16_084,
    });
    expect(toCsvRow(cdr)).toBe(
      'c-1,a84b4c76e66710@10.0.0.1,acme,sw1,sip:+15551230000@10.0.0.1,sip:442071234567@gw.example.net,10.0.0.1,' +
        '2024-03-01T12:00:00.000Z,2024-03-01T12:00:02.500Z,2024-03-01T12:01:03.250Z,63250,61,66,200,answered,normal_clearing,' +
        '4420,0.012000,0.000500,0.013700,0.002384,0.016084',
    );
    expect(toJsonLine(cdr)).toBe(
      '{"call_id":"c-1","sip_call_id":"a84b4c76e66710@10.0.0.1","account_id":"acme","switch_id":"sw1",' +
        '"from":"sip:+15551230000@10.0.0.1","to":"sip:442071234567@gw.example.net","source_ip":"10.0.0.1",' +
        '"invited_at":"2024-03-01T12:00:00.000Z","answered_at":"2024-03-01T12:00:02.500Z","ended_at":"2024-03-01T12:01:03.250Z",' +
        '"duration_ms":63250,"billsec":61,"billed_sec":66,"sip_code":200,"disposition":"answered","reason":"normal_clearing",' +
        '"prefix":"4420","rate_per_min":12000,"connect_fee":500,"cost":13700,"tax":2384,"total":16084}',
    );
  });

  it('leaves the tax column empty, and the tax key out, for an exempt account', () => {
    const cdr = cdrFromStreamEntry(answeredFields({ taxExempt: true }, { tax: '0', total: '13700' }));
    expect(cdr.tax).toBeNull();
    expect(toCsvRow(cdr).endsWith(',0.013700,,0.013700')).toBe(true);
    const json = JSON.parse(toJsonLine(cdr)) as Record<string, unknown>;
    expect('tax' in json).toBe(false);
    expect(json).toMatchObject({ cost: 13_700, total: 13_700 });
  });

  it('shows a zero tax for a non-exempt account that was charged nothing', () => {
    const cdr = cdrFromStreamEntry(
      answeredFields({}, { disposition: 'cancelled', sipCode: '487', answeredAt: '0', talkMs: '0', billedSec: '0', cost: '0', tax: '0', total: '0', endedAt: String(T0 + 4_000) }),
    );
    expect(toCsvRow(cdr)).toBe(
      'c-1,a84b4c76e66710@10.0.0.1,acme,sw1,sip:+15551230000@10.0.0.1,sip:442071234567@gw.example.net,10.0.0.1,' +
        '2024-03-01T12:00:00.000Z,,2024-03-01T12:00:04.000Z,4000,0,0,487,cancelled,normal_clearing,' +
        '4420,0.012000,0.000500,0.000000,0.000000,0.000000',
    );
    expect(toJsonLine(cdr)).toContain('"answered_at":null,');
    expect(toJsonLine(cdr)).toContain('"tax":0,');
  });

  it('reads an orphaned entry from sweep-12.lua', () => {
    const cdr = cdrFromStreamEntry(
      answeredFields({}, { disposition: 'orphaned', reason: 'lease_expired', sipCode: '0', answeredAt: '0', talkMs: '0', billedSec: '0', cost: '0', tax: '0', total: '0' }),
    );
    expect([cdr.disposition, cdr.reason, cdr.sipCode, cdr.answeredAt, cdr.billsec]).toEqual(['orphaned', 'lease_expired', 0, null, 0]);
  });

  it('never throws on malformed static JSON, and still writes what is known', () => {
    for (const bad of ['{not json', '[1,2]', 'null', '"text"', '']) {
      const cdr = cdrFromStreamEntry(answeredFields({}, { static: bad }));
      expect(toCsvRow(cdr)).toBe(
        'c-1,,,sw1,,,,,2024-03-01T12:00:02.500Z,2024-03-01T12:01:03.250Z,,61,66,200,answered,normal_clearing,,,,0.013700,0.002384,0.016084',
      );
    }
    const noStatic = cdrFromStreamEntry({ callId: 'c-2', endedAt: String(T0) });
    expect(toCsvRow(noStatic)).toBe('c-2,,,,,,,,,2024-03-01T12:00:00.000Z,,0,0,0,failed,,,,,0.000000,,0.000000');
    expect(toJsonLine(noStatic)).toBe(
      '{"call_id":"c-2","sip_call_id":"","account_id":null,"switch_id":"","from":"","to":"","source_ip":"","invited_at":null,' +
        '"answered_at":null,"ended_at":"2024-03-01T12:00:00.000Z","duration_ms":null,"billsec":0,"billed_sec":0,"sip_code":0,' +
        '"disposition":"failed","reason":"","prefix":"","rate_per_min":null,"connect_fee":null,"cost":0,"total":0}',
    );
  });

  it('ignores wrongly typed static fields and out-of-range numbers', () => {
    const cdr = cdrFromStreamEntry(
      answeredFields({ invitedAt: 'yesterday' as unknown as number, ratePerMin: 1.5, from: 42 as unknown as string }, { cost: '1e3', total: '99999999999999999999' }),
    );
    expect([cdr.invitedAt, cdr.durationMs, cdr.ratePerMin, cdr.from, cdr.cost, cdr.total]).toEqual([null, null, null, '', 0, 2_384]);
    expect(() => toCsvRow(cdr)).not.toThrow();
  });

  it('uses the stream entry id when endedAt is missing, and the stream account over the static one', () => {
    const cdr = cdrFromStreamEntry(answeredFields({}, { endedAt: '' }), { entryId: `${T0 + 90_000}-3`, accountId: 'acme2' });
    expect([cdr.endedAt, cdr.accountId, cdr.durationMs]).toEqual([T0 + 90_000, 'acme2', 90_000]);
    expect(cdrFromStreamEntry(answeredFields({}, { endedAt: 'x' })).endedAt).toBe(0);
  });

  it('without the exemption flag, shows tax only when some was charged', () => {
    const { taxExempt: _, ...old } = staticCdr;
    const fields = (tax: string) => ({ ...answeredFields(), static: JSON.stringify(old), tax });
    expect(cdrFromStreamEntry(fields('2384')).tax).toBe(2_384);
    expect(cdrFromStreamEntry(fields('0')).tax).toBeNull();
  });

  it('never reports a negative duration when the end comes from another clock', () => {
    expect(cdrFromStreamEntry(answeredFields({ invitedAt: T0 + 70_000 })).durationMs).toBe(0);
  });

  it('maps an unknown disposition to failed', () => {
    expect(cdrFromStreamEntry(answeredFields({}, { disposition: 'exploded' })).disposition).toBe('failed');
  });
});

describe('cdrFromRejection', () => {
  const seed: CdrSeed = {
    sipCallId: 'x@198.51.100.7',
    accountId: null,
    from: 'sip:1000@198.51.100.7',
    to: 'sip:18005550100@carrier.example',
    srcIp: '198.51.100.7',
    invitedAt: T0,
    prefix: '',
    ratePerMin: null,
    connectFee: null,
    firstIncrement: null,
    nextIncrement: null,
    taxExempt: false,
  };
  const attempt: RejectedAttempt = { callId: 'r-1', switchId: 'sw1', seed, endedAt: T0 + 3, sipCode: 403, reason: 'unknown_account' };

  it('records an unidentified source with no money and no tax', () => {
    const cdr = cdrFromRejection(attempt);
    expect(toCsvRow(cdr)).toBe(
      'r-1,x@198.51.100.7,,sw1,sip:1000@198.51.100.7,sip:18005550100@carrier.example,198.51.100.7,' +
        '2024-03-01T12:00:00.000Z,,2024-03-01T12:00:00.003Z,3,0,0,403,rejected,unknown_account,,,,0.000000,,0.000000',
    );
    expect(toJsonLine(cdr)).toBe(
      '{"call_id":"r-1","sip_call_id":"x@198.51.100.7","account_id":null,"switch_id":"sw1","from":"sip:1000@198.51.100.7",' +
        '"to":"sip:18005550100@carrier.example","source_ip":"198.51.100.7","invited_at":"2024-03-01T12:00:00.000Z",' +
        '"answered_at":null,"ended_at":"2024-03-01T12:00:00.003Z","duration_ms":3,"billsec":0,"billed_sec":0,"sip_code":403,' +
        '"disposition":"rejected","reason":"unknown_account","prefix":"","rate_per_min":null,"connect_fee":null,"cost":0,"total":0}',
    );
  });

  it('carries the account and rate when the refusal came after rating', () => {
    const cdr = cdrFromRejection({
      ...attempt, sipCode: 402, reason: 'insufficient_funds',
      seed: { ...seed, accountId: 'acme', prefix: '1800', ratePerMin: 0, connectFee: 0, firstIncrement: 6, nextIncrement: 6 },
    });
    expect(toCsvRow(cdr)).toBe(
      'r-1,x@198.51.100.7,acme,sw1,sip:1000@198.51.100.7,sip:18005550100@carrier.example,198.51.100.7,' +
        '2024-03-01T12:00:00.000Z,,2024-03-01T12:00:00.003Z,3,0,0,402,rejected,insufficient_funds,1800,0.000000,0.000000,0.000000,,0.000000',
    );
  });
});

describe('hostile SIP text in the CSV', () => {
  const withFrom = (from: string, to = 'sip:1@b') => toCsvRow(cdrFromStreamEntry(answeredFields({ from, to, sipCallId: from })));
  const fromCell = (row: string) => row.split(',')[4];

  it('neutralises formulas with a leading single quote', () => {
    expect(neutraliseFormula('=1+2')).toBe("'=1+2");
    expect(neutraliseFormula('+15551230000')).toBe("'+15551230000");
    expect(neutraliseFormula('-2')).toBe("'-2");
    expect(neutraliseFormula('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(neutraliseFormula('\tx')).toBe("'\tx");
    expect(neutraliseFormula('sip:=1@h')).toBe('sip:=1@h');
    expect(fromCell(withFrom('=cmd|x'))).toBe("'=cmd|x");
    expect(fromCell(withFrom('@x'))).toBe("'@x");
  });

  it('quotes per RFC 4180 after neutralising', () => {
    const row = withFrom('=HYPERLINK("http://evil.example/?a,b","click")', '"Bob" <sip:2@b>');
    const evil = `"'=HYPERLINK(""http://evil.example/?a,b"",""click"")"`;
    expect(row).toBe(
      `c-1,${evil},acme,sw1,${evil},"""Bob"" <sip:2@b>",10.0.0.1,2024-03-01T12:00:00.000Z,2024-03-01T12:00:02.500Z,` +
        '2024-03-01T12:01:03.250Z,63250,61,66,200,answered,normal_clearing,4420,0.012000,0.000500,0.013700,0.002384,0.016084',
    );
    expect(withFrom('a,\rline\nbreak')).toContain(',"a,\ufffdline\ufffdbreak",');
  });

  it('replaces control characters from SIP by U+FFFD in the record, the CSV and the JSON line', () => {
    const cdr = cdrFromStreamEntry(answeredFields({ from: '=1+2\n"x"\u0000\u007f\u0085', sipCallId: 'c\r\nid' }));
    expect(cdr.from).toBe('=1+2\ufffd"x"\ufffd\ufffd\ufffd');
    expect(cdr.sipCallId).toBe('c\ufffd\ufffdid');
    const line = toJsonLine(cdr);
    expect(line).toContain('"from":"=1+2\ufffd\\"x\\"\ufffd\ufffd\ufffd"');
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]|\\u00[01]/);
    expect(toCsvRow(cdr)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    const refused = cdrFromRejection({
      callId: 'r1', switchId: 'sw1', endedAt: T0, sipCode: 403, reason: 'no_rate',
      seed: { ...staticCdr, to: '44\u000020' },
    });
    expect(refused.to).toBe('44\ufffd20');
  });
});

describe('helpers', () => {
  it('files a CDR under the UTC day of its end', () => {
    expect(cdrDay({ endedAt: 1_709_337_599_999 })).toBe('2024-03-01');
    expect(cdrDay({ endedAt: 1_709_337_600_000 })).toBe('2024-03-02');
  });

  it('reads the time of a stream entry id', () => {
    expect(streamIdTimeMs('1709294400000-0')).toBe(T0);
    expect(streamIdTimeMs('nope')).toBeNull();
  });
});
