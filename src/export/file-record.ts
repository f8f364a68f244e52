/**
 * What is known of an account's published day file, kept in its `cdrFiles` hash (one field per UTC day,
 * YYYYMMDD) so that every instance can list the days without the files' disk: the admin API, the CLI.
 */
export interface CdrFileRecord {
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  /** The file's name: `<account>_<YYYYMMDD>.csv.gz`, `_r<N>` before the extension from the second revision. */
  name: string;
  /** Its path under the files root (`<cdrExport.dir>/files`), which is also its SFTP path below the account's folder: `<account>/<YYYY>/<MM>/<name>`. */
  path: string;
  /** 1 for the file published at day close, 2 and up for each revision a late CDR made. */
  revision: number;
  /** CDRs (CSV records after the header) in the file. */
  rows: number;
  /** The gzip file's size. */
  bytes: number;
  /** Hex SHA-256 of the gzip file, as its `.sha256` holds it. */
  sha256: string;
  /** ISO-8601 UTC. */
  publishedAt: string;
}

export const DAY_FIELD = /^\d{8}$/;

export function encodeFileRecord(record: CdrFileRecord): string {
  return JSON.stringify(record);
}

/** The record, or null when the stored text is not one. */
export function decodeFileRecord(text: string | undefined | null): CdrFileRecord | null {
  if (typeof text !== 'string') return null;
  try {
    const v = JSON.parse(text) as Partial<CdrFileRecord>;
    if (typeof v !== 'object' || v === null) return null;
    if (typeof v.day !== 'string' || typeof v.name !== 'string' || typeof v.path !== 'string') return null;
    if (!Number.isSafeInteger(v.revision) || !Number.isSafeInteger(v.rows) || !Number.isSafeInteger(v.bytes)) return null;
    if (typeof v.sha256 !== 'string' || typeof v.publishedAt !== 'string') return null;
    return v as CdrFileRecord;
  } catch {
    return null;
  }
}

/** YYYY-MM-DD or YYYYMMDD, a real calendar day, as YYYYMMDD; null otherwise. */
export function dayField(day: string): string | null {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(day);
  if (!m) return null;
  const [, y, mo, d] = m;
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d));
  if (new Date(t).toISOString().slice(0, 10) !== `${y}-${mo}-${d}`) return null;
  return `${y}${mo}${d}`;
}
