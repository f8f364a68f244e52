/** Customer CDR files as the export role leaves them (src/export/day-store.ts), for the admin API and CLI tests. */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeFileRecord, type CdrFileRecord } from '../../src/export/file-record.js';
import type { TestContext } from './context.js';

/** Public keys made by ssh-keygen (OpenSSH 9.2), with the fingerprints `ssh-keygen -l` printed for them. */
export const KEYS = {
  ED25519: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKHea2xJkY7FjLr6e04TdXTNhjznyAmiYs0gAEF2MLrJ',
  ECDSA_256: 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCdACNOG4XBY9mK4Io3Ho3Yn1qNJofxkLVVlG4UDeJY7zKfu5pQvaKCQSx5bZsh3K+yhDcYIe+gceOvvNKsP8AA=',
  RSA_1024: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC/JWP7afLYm24SP7zillR+2ymhfoYsfrp61oOzESSk45XQP5s2qYahw3P+OlrF42/3O7umNVv+r5VIOLdw31slIlg8LbmBrb3P8QcN18jHTkZyQKY2uYEOSMGRH1n6KxvDFFHAYOQZImASGO+fZVkQWyLuu/YkJbZpAxTNS9v4DQ==',
} as const;
export const FINGERPRINTS = {
  ED25519: 'SHA256:cvOUvcA8P2HDwpsaXAVHGKZkdslj7rfFtkUt0ExHh2Y',
  ECDSA_256: 'SHA256:VlHpiBTbUOoI/fDKaf27tjOZA2UHGwIIkw8RCNNhURU',
} as const;

export interface PublishOptions {
  revision?: number;
  /** The CSV the gzip holds. */
  csv?: string;
  /** false: the record only, no file (a host that does not share cdrExport.dir). */
  write?: boolean;
  /** Fields of the record to forge. */
  record?: Partial<CdrFileRecord>;
}

/** A day file as the export role publishes it: the gzip and its .sha256 under `filesRoot`, and its record in Redis. */
export async function publishDayFile(
  c: TestContext,
  filesRoot: string,
  accountId: string,
  field: string,
  o: PublishOptions = {},
): Promise<{ record: CdrFileRecord; gz: Buffer }> {
  const revision = o.revision ?? 1;
  const name = `${accountId}_${field}${revision > 1 ? `_r${revision}` : ''}.csv.gz`;
  const path = `${accountId}/${field.slice(0, 4)}/${field.slice(4, 6)}/${name}`;
  const csv = o.csv ?? `call_id,account\r\nc-${field},${accountId}\r\n`;
  const gz = gzipSync(Buffer.from(csv));
  const sha256 = createHash('sha256').update(gz).digest('hex');
  const record: CdrFileRecord = {
    day: `${field.slice(0, 4)}-${field.slice(4, 6)}-${field.slice(6)}`, name, path, revision, rows: csv.split('\r\n').length - 2,
    bytes: gz.length, sha256, publishedAt: '2026-12-04T00:30:01.000Z', ...o.record,
  };
  if (o.write !== false) {
    const full = join(filesRoot, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, gz);
    writeFileSync(`${full}.sha256`, `${sha256}  ${name}\n`);
  }
  await c.conn.redis.hSet(c.keys.cdrFiles(accountId), field, encodeFileRecord(record));
  return { record, gz };
}

