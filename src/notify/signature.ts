import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures. The dispatcher sends `X-Callgate-Timestamp: <unix seconds>` and
 * `X-Callgate-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. The timestamp is inside
 * the signed text, so a receiver that also bounds its age (toleranceSeconds) refuses replays of old bodies.
 */

export const SIGNATURE_SCHEME = 'sha256';

/** The X-Callgate-Signature header value for a body sent at `timestamp` (unix seconds). */
export function signPayload(secret: string, timestamp: number | string, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `${SIGNATURE_SCHEME}=${mac}`;
}

export interface VerifyOptions {
  /** Refuse timestamps further than this from `nowSeconds` (a replay window); unchecked when absent. */
  toleranceSeconds?: number;
  nowSeconds?: number;
}

/**
 * Checks an X-Callgate-Signature header against the raw body as received (the exact bytes, before any
 * JSON parsing) in constant time.
 */
export function verifySignature(
  secret: string,
  timestamp: number | string | undefined,
  body: string,
  header: string | undefined,
  options: VerifyOptions = {},
): boolean {
  if (timestamp === undefined || header === undefined) return false;
  const ts = String(timestamp);
  if (!/^\d{1,12}$/.test(ts)) return false;
  if (options.toleranceSeconds !== undefined) {
    const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
    if (Math.abs(now - Number(ts)) > options.toleranceSeconds) return false;
  }
  const expected = Buffer.from(signPayload(secret, ts, body), 'utf8');
  const given = Buffer.from(header.trim(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
