import { describe, expect, it } from 'vitest';
import { eventFromEntry } from './events.js';
import { verifySignature } from './signature.js';
import { webhookHeaders } from './webhook-post.js';

describe('webhook POST headers', () => {
  const event = eventFromEntry('acme', '1700000000123-0', { type: 'low_balance', at: '1700000000120', balance: '-4000000' });
  const secret = 'test-secret-0123456789';

  it('name the event, the delivery and the attempt, and sign the body with the timestamp they carry', () => {
    const h = webhookHeaders({ secret }, event, 2, 1700000001);
    expect(h).toMatchObject({
      'Content-Type': 'application/json',
      'X-Callgate-Event': 'low_balance',
      'X-Callgate-Delivery': '1700000000123-0',
      'X-Callgate-Timestamp': '1700000001',
      'X-Callgate-Attempt': '2',
    });
    expect(verifySignature(secret, h['X-Callgate-Timestamp'], event.body, h['X-Callgate-Signature'])).toBe(true);
  });
});
