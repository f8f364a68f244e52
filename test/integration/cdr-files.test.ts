import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cdrFromRejection, CSV_HEADER, toCsvRow, toJsonLine, type Cdr } from '../../src/cdr/builder.js';
import { CdrFilesClosedError, createCdrFiles, type CdrFiles } from '../../src/cdr/files.js';

const DAY1 = Date.UTC(2024, 2, 1, 23, 59, 59, 999);
const DAY2 = Date.UTC(2024, 2, 2, 0, 0, 0, 0);

function cdr(callId: string, over: Partial<Cdr> = {}): Cdr {
  return {
    callId,
    sipCallId: `${callId}@10.0.0.1`,
    accountId: 'acme',
    switchId: 'sw1',
    from: 'sip:100@10.0.0.1',
    to: 'sip:442071234567@gw',
    srcIp: '10.0.0.1',
    invitedAt: DAY1 - 10_000,
    answeredAt: DAY1 - 8_000,
    endedAt: DAY1,
    durationMs: 10_000,
    billsec: 8,
    billedSec: 12,
    sipCode: 200,
    disposition: 'answered',
    reason: 'normal_clearing',
    prefix: '4420',
    ratePerMin: 12_000,
    firstIncrement: 6,
    nextIncrement: 6,
    connectFee: 0,
    cost: 2_400,
    tax: 418,
    total: 2_818,
    ...over,
  };
}

const csvOf = (...cdrs: Cdr[]) => [CSV_HEADER, ...cdrs.map(toCsvRow)].map((l) => `${l}\r\n`).join('');
const jsonlOf = (...cdrs: Cdr[]) => cdrs.map((c) => `${toJsonLine(c)}\n`).join('');

describe('CDR files', () => {
  let dir = '';
  let open: CdrFiles[] = [];
  const files = (fsyncEach = true) => {
    const f = createCdrFiles({ dir, switchId: 'sw1', fsyncEach });
    open.push(f);
    return f;
  };
  const read = (day: string, ext: 'csv' | 'jsonl') => readFile(join(dir, day, `sw1.${ext}`), 'utf8');

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callgate-cdr-files-'));
    open = [];
  });
  afterEach(async () => {
    await Promise.all(open.map((f) => f.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the day directory and both files, the CSV with its header', async () => {
    const f = files();
    expect(await f.appendBatch([cdr('c1'), cdr('c2')])).toEqual({ written: 2, skipped: 0 });
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(cdr('c1'), cdr('c2')));
    expect(await read('2024-03-01', 'jsonl')).toBe(jsonlOf(cdr('c1'), cdr('c2')));
    expect(f.paths('2024-03-01')).toEqual({ csv: join(dir, '2024-03-01', 'sw1.csv'), jsonl: join(dir, '2024-03-01', 'sw1.jsonl') });
  });

  it('writes the header into a CSV that exists but is empty', async () => {
    await mkdir(join(dir, '2024-03-01'));
    await writeFile(join(dir, '2024-03-01', 'sw1.csv'), '');
    await files().appendBatch([cdr('c1')]);
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(cdr('c1')));
  });

  it('files each CDR under the UTC day it ended', async () => {
    const late = cdr('late');
    const early = cdr('early', { endedAt: DAY2 });
    await files().appendBatch([early, late]);
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(late));
    expect(await read('2024-03-02', 'csv')).toBe(csvOf(early));
    expect(await read('2024-03-02', 'jsonl')).toBe(jsonlOf(early));
  });

  it('skips a call id it already holds, in the same batch, later, and after a restart', async () => {
    const first = files();
    expect(await first.appendBatch([cdr('c1'), cdr('c1')])).toEqual({ written: 1, skipped: 1 });
    expect(await first.appendBatch([cdr('c1'), cdr('c2')])).toEqual({ written: 1, skipped: 1 });
    await first.close();
    const again = files();
    expect(await again.appendBatch([cdr('c2'), cdr('c1'), cdr('c3')])).toEqual({ written: 1, skipped: 2 });
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(cdr('c1'), cdr('c2'), cdr('c3')));
    expect(await read('2024-03-01', 'jsonl')).toBe(jsonlOf(cdr('c1'), cdr('c2'), cdr('c3')));
  });

  it('holds a written call id only until it is released, and the ids read at open only until forgetScans', async () => {
    const first = files();
    const refused = cdr('r1', { disposition: 'rejected', sipCode: 403 });
    await first.appendBatch([cdr('c1'), cdr('c2'), refused]);
    expect(first.heldIds()).toBe(2); // a rejected attempt is never held
    first.release(['c1', 'c2']);
    expect(first.heldIds()).toBe(0);
    await first.close();

    const again = createCdrFiles({ dir, switchId: 'sw1', now: () => 1_000 });
    open.push(again);
    // opened at 1,000: the scan holds c1 and c2, so a redelivered c2 is skipped
    expect(await again.appendBatch([cdr('c2'), cdr('c3')])).toEqual({ written: 1, skipped: 1 });
    expect(again.heldIds()).toBe(3);
    again.forgetScans(1_000); // opened at, not before
    expect(again.heldIds()).toBe(3);
    again.forgetScans(1_001);
    expect(again.heldIds()).toBe(1); // c3, written here and not released yet
    expect(await again.appendBatch([cdr('c3')])).toEqual({ written: 0, skipped: 1 });
    again.release(['c3']);
    expect(again.heldIds()).toBe(0);
    expect(await read('2024-03-01', 'jsonl')).toBe(jsonlOf(cdr('c1'), cdr('c2'), refused, cdr('c3')));
  });

  it('recognises call ids in CSV rows with quoted fields and line breaks', async () => {
    const hostile = cdr('=c1', { from: '"a,b"\r\nc2,x', to: '@\n' });
    await files().appendBatch([hostile, cdr('c3')]);
    const again = files();
    expect(await again.appendBatch([hostile, cdr('c2'), cdr('c3')])).toEqual({ written: 1, skipped: 2 });
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(hostile, cdr('c3'), cdr('c2')));
  });

  it('cuts a torn last record left by a crash and writes the CDR again whole', async () => {
    await files().appendBatch([cdr('c1')]);
    const p = files().paths('2024-03-01');
    await appendFile(p.csv, 'c2,"x@10.0.0.1,ac');
    await appendFile(p.jsonl, '{"call_id":"c2","sip_');
    const again = files();
    expect(await again.appendBatch([cdr('c2')])).toEqual({ written: 1, skipped: 0 });
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(cdr('c1'), cdr('c2')));
    expect(await read('2024-03-01', 'jsonl')).toBe(jsonlOf(cdr('c1'), cdr('c2')));
  });

  it('completes the file that missed a CDR when a crash fell between the two writes', async () => {
    await files().appendBatch([cdr('c1')]);
    const p = files().paths('2024-03-01');
    await appendFile(p.csv, `${toCsvRow(cdr('c2'))}\r\n`); // c2 reached the CSV only
    await appendFile(p.jsonl, `${toJsonLine(cdr('c3'))}\n`); // c3 reached the JSONL only
    const again = files();
    expect(await again.appendBatch([cdr('c2'), cdr('c3')])).toEqual({ written: 2, skipped: 0 });
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(cdr('c1'), cdr('c2'), cdr('c3')));
    expect(await read('2024-03-01', 'jsonl')).toBe(jsonlOf(cdr('c1'), cdr('c3'), cdr('c2')));
  });

  it('never interleaves concurrent batches', async () => {
    const f = files(false);
    const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 50 }, (_, i) => cdr(`b${b}-${i}`, { from: 'x'.repeat(2000) })));
    await Promise.all(batches.map((batch) => f.appendBatch(batch)));
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(...batches.flat()));
    expect(await read('2024-03-01', 'jsonl')).toBe(jsonlOf(...batches.flat()));
  });

  it('writes a rejected attempt once across the retry of a batch that failed on another day', async () => {
    const rejected = cdrFromRejection({
      callId: 'r1', switchId: 'sw1', endedAt: DAY1, sipCode: 403, reason: 'unknown_account',
      seed: {
        sipCallId: 's', accountId: null, from: 'f', to: 't', srcIp: '192.0.2.1', invitedAt: DAY1,
        prefix: '', ratePerMin: null, connectFee: null, firstIncrement: null, nextIncrement: null, taxExempt: false,
      },
    });
    const blocker = join(dir, '2024-03-02');
    await writeFile(blocker, 'not a directory');
    const f = files();
    const batch = [rejected, cdr('next-day', { endedAt: DAY2 })];
    await expect(f.appendBatch(batch)).rejects.toThrow();
    await rm(blocker);
    expect(await f.appendBatch(batch)).toEqual({ written: 1, skipped: 1 });
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(rejected));
    expect(await read('2024-03-02', 'csv')).toBe(csvOf(cdr('next-day', { endedAt: DAY2 })));
  });

  it('refuses batches once closed, after finishing the queued ones', async () => {
    const f = files();
    const queued = f.appendBatch([cdr('c1')]);
    await f.close();
    await queued;
    await expect(f.appendBatch([cdr('c2')])).rejects.toBeInstanceOf(CdrFilesClosedError);
    expect(await read('2024-03-01', 'csv')).toBe(csvOf(cdr('c1')));
  });

  it('refuses a switch id that could escape its directory', () => {
    expect(() => createCdrFiles({ dir, switchId: '../x' })).toThrow(/switchId/);
  });
});
