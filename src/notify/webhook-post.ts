import type { NotifyConfig, WebhookConfig } from '../config/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DeliveryChannel, DeliveryResult } from './channel.js';
import type { NotifyEvent } from './events.js';
import { errorText } from './errors.js';
import { signPayload } from './signature.js';

/**
 * The webhook channel: one attempt is one HTTP POST of the event's body, signed (signature.ts), bounded by
 * timeoutMs, redirects not followed. Only a 2xx answer delivers it.
 */

/** The headers of one POST; `timestamp` is unix seconds and is inside the signed text. */
export function webhookHeaders(webhook: Pick<WebhookConfig, 'secret'>, event: NotifyEvent, attempt: number, timestamp: number): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'User-Agent': 'callgate-webhooks',
    'X-Callgate-Event': event.type,
    'X-Callgate-Delivery': event.id,
    'X-Callgate-Timestamp': String(timestamp),
    'X-Callgate-Signature': signPayload(webhook.secret, timestamp, event.body),
    'X-Callgate-Attempt': String(attempt),
  };
}

export interface WebhookChannelDeps {
  config: Pick<NotifyConfig, 'webhooks' | 'timeoutMs'>;
  metrics?: Pick<Metrics, 'webhookDeliverySeconds'>;
}

export function createWebhookChannel({ config, metrics }: WebhookChannelDeps): DeliveryChannel<WebhookConfig> {
  async function deliver(w: WebhookConfig, event: NotifyEvent, attempt: number): Promise<DeliveryResult> {
    const timestamp = Math.floor(Date.now() / 1000);
    const started = performance.now();
    try {
      const res = await fetch(w.url, {
        method: 'POST',
        headers: webhookHeaders(w, event, attempt, timestamp),
        body: event.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      return res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, error: `HTTP ${res.status}` };
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') return { ok: false, error: `timeout after ${config.timeoutMs} ms` };
      const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
      return { ok: false, error: `${errorText(err)}${cause}` };
    } finally {
      metrics?.webhookDeliverySeconds.observe((performance.now() - started) / 1000);
    }
  }

  return { name: 'webhook', targets: config.webhooks, deliver };
}
