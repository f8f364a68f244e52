import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signPayload, verifySignature } from './signature.js';

const secret = 'whsec_0123456789abcdef';
const body = '{"id":"1700000000000-0","type":"low_balance","account":"acme","at":1700000000000}';

describe('webhook signatures', () => {
  it('signs "<timestamp>.<body>" with HMAC-SHA256 as sha256=<hex>', () => {
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(signPayload(secret, 1700000000, body)).toBe(`sha256=${expected}`);
    expect(signPayload(secret, '1700000000', body)).toBe(`sha256=${expected}`);
  });

  it('verifies a good signature and refuses any change to secret, timestamp, body or header', () => {
    const header = signPayload(secret, 1700000000, body);
    expect(verifySignature(secret, '1700000000', body, header)).toBe(true);
    expect(verifySignature(`${secret}x`, '1700000000', body, header)).toBe(false);
    expect(verifySignature(secret, '1700000001', body, header)).toBe(false);
    expect(verifySignature(secret, '1700000000', `${body} `, header)).toBe(false);
    expect(verifySignature(secret, '1700000000', body, header.replace('sha256=', 'sha1='))).toBe(false);
    expect(verifySignature(secret, '1700000000', body, header.slice(0, -1))).toBe(false);
    expect(verifySignature(secret, '1700000000', body, undefined)).toBe(false);
    expect(verifySignature(secret, undefined, body, header)).toBe(false);
    expect(verifySignature(secret, '17e8', body, header)).toBe(false);
  });

  it('refuses a timestamp outside the replay window when one is given', () => {
    const header = signPayload(secret, 1700000000, body);
    expect(verifySignature(secret, 1700000000, body, header, { toleranceSeconds: 300, nowSeconds: 1700000299 })).toBe(true);
    expect(verifySignature(secret, 1700000000, body, header, { toleranceSeconds: 300, nowSeconds: 1700000301 })).toBe(false);
  });
});
