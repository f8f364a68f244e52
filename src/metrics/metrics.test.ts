import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

describe('metric names', () => {
  it('start with callgate_ once, never repeat a word, and counters end in _total', async () => {
    const { registry } = createMetrics();
    const metrics = await registry.getMetricsAsJSON();
    const names = metrics.map((m) => m.name);
    expect(names).toContain('callgate_process_cpu_user_seconds_total');
    expect(names).toContain('callgate_drachtio_connect_failures_total');
    for (const name of names) {
      expect(name).toMatch(/^callgate_[a-z0-9_]+$/);
      const words = name.split('_');
      expect(words.some((w, i) => i > 0 && w === words[i - 1]), `${name} repeats a word`).toBe(false);
    }
    for (const m of metrics) if (String(m.type) === 'counter') expect(m.name).toMatch(/_total$/);
  });
});
