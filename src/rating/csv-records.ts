/** Splitting CSV text into records, reporting quoting problems by line. */
import type { ProblemList } from './deck-problems.js';

export interface CsvRecord {
  /** Line on which the record starts. */
  line: number;
  fields: string[];
  /** Set when the record could not be split into fields (already reported). */
  broken?: true;
}

/**
 * Splits CSV text into records (RFC 4180 quoting: `"a,b"`, `"say ""hi"""`, line breaks inside quotes).
 * Blank lines and lines starting with `#` are skipped. A record with a quoting problem is reported and kept
 * as `broken`, with no fields.
 */
export function readCsvRecords(text: string, problems: ProblemList): CsvRecord[] {
  const records: CsvRecord[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;

  const endOfLine = (from: number): number => {
    const eol = text.indexOf('\n', from);
    return eol < 0 ? n : eol;
  };

  while (i < n) {
    let first = i;
    while (first < n && (text[first] === ' ' || text[first] === '\t' || text[first] === '\r')) first++;
    if (first === n || text[first] === '\n' || text[first] === '#') {
      i = endOfLine(first) + 1;
      line++;
      continue;
    }

    const recordLine = line;
    const fields: string[] = [];
    let broken: string | undefined;
    let j = i;
    for (;;) {
      // One field starting at j.
      while (j < n && (text[j] === ' ' || text[j] === '\t')) j++;
      if (text[j] === '"') {
        let value = '';
        let closed = false;
        j++;
        while (j < n) {
          const quote = text.indexOf('"', j);
          const piece = text.slice(j, quote < 0 ? n : quote);
          for (let nl = piece.indexOf('\n'); nl >= 0; nl = piece.indexOf('\n', nl + 1)) line++;
          value += piece;
          if (quote < 0) break;
          if (text[quote + 1] === '"') {
            value += '"';
            j = quote + 2;
            continue;
          }
          j = quote + 1;
          closed = true;
          break;
        }
        if (!closed) {
          problems.add(recordLine, 'a quoted field is never closed');
          records.push({ line: recordLine, fields: [], broken: true });
          return records;
        }
        while (j < n && (text[j] === ' ' || text[j] === '\t' || text[j] === '\r')) j++;
        if (j < n && text[j] !== ',' && text[j] !== '\n') {
          broken = 'unexpected text after a closing quote';
          break;
        }
        fields.push(value);
      } else {
        const start = j;
        while (j < n && text[j] !== ',' && text[j] !== '\n') j++;
        const value = text.slice(start, j).trim();
        if (value.includes('"')) {
          broken = 'a quote inside an unquoted field (quote the whole field and double the quotes inside it)';
          break;
        }
        fields.push(value);
      }
      if (j >= n || text[j] === '\n') break;
      j++; // past the comma
    }
    // The record ends on the line j is on; a broken record is dropped whole.
    i = endOfLine(j) + 1;
    line++;
    if (broken !== undefined) {
      problems.add(recordLine, broken);
      records.push({ line: recordLine, fields: [], broken: true });
    } else {
      records.push({ line: recordLine, fields });
    }
  }
  return records;
}
