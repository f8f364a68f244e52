/** The soak's verdict: every check with its detail, and the tables printed along the way. */
import type { ClassResult } from './traffic.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export type RecordCheck = (name: string, ok: boolean, detail: string) => void;

export function createReport() {
  const checks: Check[] = [];
  return {
    check: ((name, ok, detail) => {
      checks.push({ name, ok, detail });
    }) as RecordCheck,
    /** Prints every check; true when all passed. */
    printChecks(): boolean {
      console.log('');
      for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
      return checks.every((c) => c.ok);
    },
  };
}

export type Report = ReturnType<typeof createReport>;

/** One line per traffic class: SIPp's counts and the scenario's own counters. */
export function printSippResults(results: ClassResult[]): void {
  console.log('');
  console.log('SIPp, per class (created / successful / failed; scenario counters):');
  for (const x of results) {
    console.log(
      `  ${x.cls.name.padEnd(10)} ${String(x.created).padStart(7)} / ${String(x.successful).padStart(7)} / ${String(x.failed).padStart(5)}  exit ${x.code}  ` +
        `${JSON.stringify(x.counters)}  retransmissions ${x.stats['Retransmissions(C)'] ?? '?'}`,
    );
  }
}

/** The SIPp calls placed and failed, and the check that almost none failed. */
export function checkSippCalls(results: ClassResult[], check: RecordCheck): { created: number; failed: number } {
  const created = results.reduce((a, x) => a + x.created, 0);
  const failed = results.reduce((a, x) => a + x.failed, 0);
  check('SIPp calls failed < 0.5%', created > 0 && failed / created < 0.005, `${failed} of ${created} calls failed (timeouts, unexpected messages)`);
  return { created, failed };
}
