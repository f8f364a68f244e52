/** The SIP side of the soak on loopback: drachtio-server, a SIPp UAS as the switch, and callgate from dist/. */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Child, TAXES_JSON, freeSipPort, startCallgate, startDrachtio, udpPortFree, type Callgate, type Drachtio } from '../../test/helpers/sip-stack.js';
import { TIMING } from './options.js';
import { UAS_SCENARIO_FILE } from './scenarios.js';

export interface SoakSipStack {
  drachtio: Drachtio;
  uasPort: number;
  callgate: Callgate;
  pid: number;
  /** callgate's inspector (NODE_OPTIONS=--inspect on loopback), through which the soak weighs its heap. */
  inspectorUrl: string;
}

export interface SipStackOptions {
  sippBin: string;
  workDir: string;
  cdrDir: string;
  redisUrl: string;
  keyPrefix: string;
}

/** Starts the three in order; every stop is pushed on `stops`. */
export async function startSoakSipStack(o: SipStackOptions, stops: (() => Promise<void>)[]): Promise<SoakSipStack> {
  const drachtio = await startDrachtio('soak');
  stops.push(() => drachtio.stop());
  const uasPort = await freeSipPort();
  const uas = new Child('soak-uas', o.sippBin, ['-sf', UAS_SCENARIO_FILE, '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin', '-trace_err', '-error_file', join(o.workDir, 'uas-errors.log')], {
    keepText: false,
  });
  stops.push(() => uas.stop('SIGTERM', 2000));
  for (let i = 0; i < 100 && (await udpPortFree(uasPort)); i++) {
    if (!uas.running) throw new Error(`the SIPp UAS exited at start; see ${uas.logPath}`);
    await sleep(50);
  }
  const callgate = await startCallgate({
    name: 'soak', switchId: 'soak1', redisUrl: o.redisUrl, keyPrefix: o.keyPrefix, cdrDir: o.cdrDir, drachtio, routeUris: [`sip:127.0.0.1:${uasPort}`], built: true,
    env: {
      NODE_ENV: 'production', CALLGATE_LOG_LEVEL: 'info', CALLGATE_TICK_INTERVAL_MS: String(TIMING.tickIntervalMs),
      CALLGATE_LEASE_TTL_MS: String(TIMING.leaseTtlMs), CALLGATE_SWEEP_INTERVAL_MS: String(TIMING.sweepIntervalMs),
      CALLGATE_RESERVATION_SECONDS: String(TIMING.reservationSeconds), CALLGATE_TAXES: TAXES_JSON, CALLGATE_CDR_RECORD_REJECTED: 'true',
      CALLGATE_DRAIN_TIMEOUT_MS: '5000',
      // the inspector, on loopback and a port of the kernel's choosing, lets the soak weigh the live heap
      NODE_OPTIONS: '--inspect=127.0.0.1:0',
    },
  });
  stops.push(() => callgate.stop());
  const pid = callgate.child.proc.pid!;
  await callgate.child.waitForOutput(/Debugger listening on ws:\/\/\S+/, 5000);
  const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(callgate.child.output)![1]!;
  return { drachtio, uasPort, callgate, pid, inspectorUrl };
}
