/**
 * Stand-ins for the SIP side only (drachtio dialogs, requests, responses), so that the call session and
 * the bridge can be driven through every path against the real engine and a real Redis.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type Srf from 'drachtio-srf';

export class FakeDialog extends EventEmitter {
  destroyed: { headers?: Record<string, string> }[] = [];
  destroy(opts?: { headers?: Record<string, string> }) {
    this.destroyed.push(opts ?? {});
  }
}

export class FakeRequest extends EventEmitter {
  locals: Record<string, unknown> = {};
}

export class FakeResponse {
  finalResponseSent = false;
  sent: number[] = [];
  send(status: number) {
    this.sent.push(status);
    this.finalResponseSent = true;
  }
}

export interface Legs {
  uas: FakeDialog;
  uac: FakeDialog;
}

/** How the fake B leg behaves for one route attempt. */
export type Behaviour = (req: FakeRequest, attempt: number) => Promise<Legs>;

export function answerAfter(ms: number): Behaviour {
  return async () => {
    await sleep(ms);
    return { uas: new FakeDialog(), uac: new FakeDialog() };
  };
}

export function failWith(status: number, afterMs = 5): Behaviour {
  return async () => {
    await sleep(afterMs);
    throw Object.assign(new Error(`${status}`), { status });
  };
}

/** A drachtio-srf stand-in whose createB2BUA plays the given behaviours, one per route tried. */
export function createFakeSrf() {
  let behaviours: Behaviour[] = [answerAfter(5)];
  const routeCalls: string[] = [];
  const legs: Legs[] = [];
  // an EventEmitter, as drachtio-srf's Srf is: callgate listens to its link events
  const srf = Object.assign(new EventEmitter(), {
    createB2BUA: async (req: FakeRequest, _res: unknown, uri: string, _opts: unknown, cbs: { cbFinalizedUac?: () => void }) => {
      routeCalls.push(uri);
      const got = await behaviours[Math.min(routeCalls.length - 1, behaviours.length - 1)]!(req, routeCalls.length);
      cbs.cbFinalizedUac?.();
      legs.push(got);
      return got;
    },
  }) as unknown as Srf;
  return {
    srf,
    routeCalls,
    legs,
    play(b: Behaviour | Behaviour[]) {
      behaviours = Array.isArray(b) ? b : [b];
    },
  };
}
