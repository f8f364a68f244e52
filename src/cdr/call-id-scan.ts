/**
 * Reads back the call ids a day's files already hold when they are opened, so that a CDR delivered again
 * after a crash or a retry is not written twice, and measures their complete records, so that a torn last
 * record can be cut off. Rejected attempts are left out: they are never delivered again.
 */
import type { FileHandle } from 'node:fs/promises';
import { CSV_COLUMNS } from './builder.js';

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const COMMA = 0x2c;
const CR = 0x0d;
const READ_CHUNK = 1 << 20;
const DISPOSITION_COLUMN = CSV_COLUMNS.indexOf('disposition');
const JSON_CALL_ID = /^\{"call_id":("(?:[^"\\]|\\.)*")/;

async function readChunks(handle: FileHandle, size: number, onChunk: (chunk: Buffer, offset: number) => void): Promise<void> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  for (let offset = 0; offset < size; ) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(READ_CHUNK, size - offset), offset);
    if (bytesRead === 0) break;
    onChunk(buf.subarray(0, bytesRead), offset);
    offset += bytesRead;
  }
}

/** Undoes neutraliseFormula on a CSV value, to compare it with a raw call id. */
function unneutralise(text: string): string {
  return /^'[=+\-@\t\r]/.test(text) ? text.slice(1) : text;
}

/**
 * Reads the CSV's records (RFC 4180: quoted fields may hold commas, quotes and line breaks) and returns
 * the call ids of its non-rejected rows, with the byte length of its complete records.
 */
export async function scanCsvCallIds(handle: FileHandle, size: number): Promise<{ ids: Set<string>; completeBytes: number }> {
  const ids = new Set<string>();
  const S = { FieldStart: 0, Unquoted: 1, Quoted: 2, QuoteInQuoted: 3 } as const;
  let state: number = S.FieldStart;
  let field = 0;
  let record = 0;
  let completeBytes = 0;
  let idBytes: number[] = [];
  let dispositionBytes: number[] = [];
  const keep = (b: number) => {
    if (field === 0) idBytes.push(b);
    else if (field === DISPOSITION_COLUMN) dispositionBytes.push(b);
  };
  const text = (bytes: number[]) => {
    const s = Buffer.from(bytes).toString('utf8');
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  await readChunks(handle, size, (chunk, offset) => {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (state === S.Quoted) {
        if (b === QUOTE) state = S.QuoteInQuoted;
        else keep(b);
        continue;
      }
      if (state === S.QuoteInQuoted && b === QUOTE) {
        keep(b);
        state = S.Quoted;
        continue;
      }
      if (b === COMMA) {
        field++;
        state = S.FieldStart;
      } else if (b === NEWLINE) {
        // record 0 is the header
        if (record > 0 && text(dispositionBytes) !== 'rejected') ids.add(unneutralise(text(idBytes)));
        record++;
        completeBytes = offset + i + 1;
        field = 0;
        idBytes = [];
        dispositionBytes = [];
        state = S.FieldStart;
      } else if (state === S.FieldStart && b === QUOTE) {
        state = S.Quoted;
      } else {
        // the CR of a quoted field's CRLF line end is not part of the field
        if (b !== CR || state !== S.QuoteInQuoted) keep(b);
        state = S.Unquoted;
      }
    }
  });
  return { ids, completeBytes };
}

/** Reads the JSONL's complete lines and calls back with the call id of each non-rejected CDR. */
export async function scanJsonlCallIds(handle: FileHandle, size: number, onId: (id: string) => void): Promise<{ completeBytes: number }> {
  let completeBytes = 0;
  let carry: Buffer = Buffer.alloc(0);
  const line = (bytes: Buffer) => {
    const text = bytes.toString('utf8');
    if (text.includes('"disposition":"rejected"')) return;
    const m = JSON_CALL_ID.exec(text);
    try {
      const id: unknown = m ? JSON.parse(m[1]!) : (JSON.parse(text) as { call_id?: unknown }).call_id;
      if (typeof id === 'string') onId(id);
    } catch {
      // a line this module did not write: nothing to deduplicate against
    }
  };
  await readChunks(handle, size, (chunk, offset) => {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      line(carry.length > 0 ? Buffer.concat([carry, piece]) : piece);
      carry = Buffer.alloc(0);
      start = nl + 1;
      completeBytes = offset + nl + 1;
    }
    if (start < chunk.length) carry = Buffer.concat([carry, chunk.subarray(start)]);
  });
  return { completeBytes };
}
