import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CDR_DISPOSITIONS, REJECT_REASONS, TEARDOWN_LABELS } from '../model/index.js';

/** Outcomes of callgate_ticks_total: a tick's script outcome, or error when it failed. */
export const TICK_OUTCOMES = ['reserved', 'short', 'off', 'gone', 'error'] as const;

/** Outcomes of callgate_webhook_deliveries_total (src/notify): a closed set. */
export const WEBHOOK_OUTCOMES = ['delivered', 'failed', 'dead_lettered'] as const;

/**
 * Every metric callgate exports, declared in one place. Labels come from closed sets only (outcomes,
 * reasons, script names): never account or call ids.
 */
export function createMetrics() {
  const registry = new Registry();
  // prom-client's own names already say process_ or nodejs_: callgate_process_cpu_user_seconds_total, callgate_nodejs_heap_size_total_bytes
  collectDefaultMetrics({ register: registry, prefix: 'callgate_' });
  const invites = new Counter({
    name: 'callgate_invites_total',
    help: 'INVITEs handled, by outcome (admitted|rejected) and reject reason (none when admitted)',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  });
  // pre-create every series so dashboards see zeros, and the label set stays closed
  invites.labels('admitted', 'none');
  for (const r of REJECT_REASONS) invites.labels('rejected', r);
  const webhookDeliveries = new Counter({
    name: 'callgate_webhook_deliveries_total',
    help: 'Webhook POST attempts that got a 2xx (delivered) or not (failed), and events given up for a webhook (dead_lettered)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const o of WEBHOOK_OUTCOMES) webhookDeliveries.labels(o);
  const ticks = new Counter({
    name: 'callgate_ticks_total',
    help: 'Call ticks, by outcome (reserved|short|off|gone|error)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const o of TICK_OUTCOMES) ticks.labels(o);
  const teardowns = new Counter({
    name: 'callgate_teardowns_total',
    help: 'Calls callgate hung up itself, by reason (funds|account_off|shutdown|lease_lost|max_duration)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const r of TEARDOWN_LABELS) teardowns.labels(r);
  const callsEnded = new Counter({
    name: 'callgate_calls_finalized_total',
    help: 'Admitted calls that ended, once each, by CDR disposition (orphaned: the lease was lost and a sweeper billed the call)',
    labelNames: ['disposition'] as const,
    registers: [registry],
  });
  for (const d of CDR_DISPOSITIONS) if (d !== 'rejected') callsEnded.labels(d);
  const scriptSeconds = new Histogram({
    name: 'callgate_redis_script_duration_seconds',
    help: 'Redis script latency by script, answered or failed',
    labelNames: ['script'] as const,
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  return {
    registry,
    invites,
    admissionSeconds: new Histogram({
      name: 'callgate_admission_duration_seconds',
      help: 'Time from INVITE received to the admission decision',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    scriptSeconds,
    liveCalls: new Gauge({ name: 'callgate_live_calls', help: 'Calls live on this instance', registers: [registry] }),
    ticks,
    teardowns,
    callsEnded,
    eventsOverflowed: new Counter({
      name: 'callgate_events_overflowed_total',
      help: 'Undelivered events moved to the dead letters because their account held more than notify.maxUndeliveredPerAccount',
      registers: [registry],
    }),
    swept: new Counter({ name: 'callgate_calls_swept_total', help: 'Orphaned calls finalized by the sweeper', registers: [registry] }),
    cdrsWritten: new Counter({ name: 'callgate_cdrs_written_total', help: 'CDRs made durable in the daily files', registers: [registry] }),
    cdrWriterLagSeconds: new Gauge({ name: 'callgate_cdr_writer_lag_seconds', help: 'Age of the oldest CDR not yet durable', registers: [registry] }),
    cdrHeldCallIds: new Gauge({
      name: 'callgate_cdr_held_call_ids',
      help: 'Call ids held in memory to skip a CDR delivered twice: those not yet deleted from Redis, and those read at a restart until recovery has passed them',
      registers: [registry],
    }),
    drachtioConnected: new Gauge({ name: 'callgate_drachtio_connected', help: '1 while connected to drachtio-server', registers: [registry] }),
    drachtioConnectFailures: new Counter({
      name: 'callgate_drachtio_connect_failures_total',
      help: 'Failed attempts to connect (or reconnect) to drachtio-server; the log warns at the first and at most once a minute after',
      registers: [registry],
    }),
    draining: new Gauge({ name: 'callgate_draining', help: '1 while draining for shutdown', registers: [registry] }),
    overloadLevel: new Gauge({
      name: 'callgate_overload_level',
      help: 'The overload guard\'s load level (0-1) at its last sample: the probability that a new INVITE is shed',
      registers: [registry],
    }),
    overloadSignal: new Gauge({
      name: 'callgate_overload_signal',
      help: 'Each signal the overload guard reads, at its last sample (event_loop_delay_ms, in_flight, admit_latency_share, invite_wait_ms, host_cpu_busy, host_cpu_level); the thresholds are set against these',
      labelNames: ['signal'] as const,
      registers: [registry],
    }),
    inviteRouteOff: new Gauge({
      name: 'callgate_invite_route_off',
      help: '1 while the severe overload level has the INVITE route off drachtio-server (it answers new INVITEs 503 itself)',
      registers: [registry],
    }),
    inviteRouteOffSeconds: new Counter({
      name: 'callgate_invite_route_off_seconds_total',
      help: 'Seconds the INVITE route was off drachtio-server at the severe overload level (counted when it comes back)',
      registers: [registry],
    }),
    catalogAccounts: new Gauge({
      name: 'callgate_catalog_accounts',
      help: 'Accounts in this instance\'s catalog in memory (the ones it can identify); every instance on one Redis should show the same figure',
      registers: [registry],
    }),
    catalogAmbiguousAccounts: new Gauge({
      name: 'callgate_catalog_ambiguous_accounts',
      help: 'Accounts whose source addresses (or id, but for case) identification cannot tell from another account\'s; their shared INVITEs are refused',
      registers: [registry],
    }),
    trafficAlerts: new Counter({
      name: 'callgate_traffic_alerts_total',
      help: 'Traffic-profile alerts raised by this instance, by rule (short_call_ratio, zero_second_ratio, acd, asr, or fraud_<limit>: fraud_calls_per_minute, fraud_concurrent_calls, fraud_calls_per_day, fraud_repeat_dials) and level (warning|critical)',
      labelNames: ['rule', 'level'] as const,
      registers: [registry],
    }),
    trafficGuardedAccounts: new Gauge({
      name: 'callgate_traffic_guarded_accounts',
      help: 'Accounts whose fraud rules, fraud blocks or maximum call duration this instance holds in memory (traffic settings)',
      registers: [registry],
    }),
    trafficSuspensions: new Counter({
      name: 'callgate_traffic_suspensions_total',
      help: 'Accounts with autoSuspend turned OFF (msa_violation) by a critical traffic alert raised on this instance',
      registers: [registry],
    }),
    cdrExportRows: new Counter({
      name: 'callgate_cdr_export_rows_total',
      help: 'CDRs the export role added to the customer day masters (deliveries again of a CDR a master holds are not counted)',
      registers: [registry],
    }),
    cdrFilesPublished: new Counter({
      name: 'callgate_cdr_files_published_total',
      help: 'Customer day files the export role published, by kind (close: the first at day close; revision: _r2 and later)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    cdrExportActive: new Gauge({
      name: 'callgate_cdr_export_active',
      help: '1 while this export role instance holds the export lease and assembles the customer files; 0 on a standby',
      registers: [registry],
    }),
    cdrSftpLoginFailures: new Counter({
      name: 'callgate_cdr_sftp_login_failures_total',
      help: 'Refused SFTP logins, by reason (password, publickey, unknown_user, locked_out, method)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    cdrSftpLockouts: new Counter({
      name: 'callgate_cdr_sftp_lockouts_total',
      help: 'Remote addresses locked out of SFTP after repeated failed logins',
      registers: [registry],
    }),
    cdrSftpBytes: new Counter({
      name: 'callgate_cdr_sftp_bytes_total',
      help: 'Bytes of customer CDR files read over SFTP',
      registers: [registry],
    }),
    adminRequestSeconds: new Histogram({
      name: 'callgate_admin_request_duration_seconds',
      help: 'Admin API requests by method, route template (unmatched for unknown paths) and HTTP status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    webhookDeliveries,
    webhookDeliverySeconds: new Histogram({
      name: 'callgate_webhook_delivery_duration_seconds',
      help: 'Time of one webhook POST, from send to response or failure (timeouts included)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
