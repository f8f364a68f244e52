/** The SIPp scenarios of the soak, which live in sipp-scenarios/: the switch, and the caller with its hold. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIO_DIR } from '../../test/helpers/sip-stack.js';

/** The switch (sipp-scenarios/uas-soak.xml): rings until cancelled when the number starts 4429, else answers. */
export const UAS_SCENARIO_FILE = join(SCENARIO_DIR, 'uas-soak.xml');

/** The CANCEL caller (sipp-scenarios/uac-cancel.xml), dialing [service]. */
export const CANCEL_SCENARIO_FILE = join(SCENARIO_DIR, 'uac-cancel.xml');

const UAC_HOLD = /(<recv request="BYE" timeout=")\d+(")/g;

/**
 * The caller of every class but cancel (sipp-scenarios/uac-soak.xml); its hold is the BYE timeout. Returns
 * the scenario held `holdMs` (SIPp takes no variable in a timeout attribute); exits 2 when the file has not
 * exactly one hold to set.
 */
export function loadUacScenario(): (holdMs: number) => string {
  const scenario = readFileSync(join(SCENARIO_DIR, 'uac-soak.xml'), 'utf8');
  if ((scenario.match(UAC_HOLD) ?? []).length !== 1) {
    console.error('soak: sipp-scenarios/uac-soak.xml must have exactly one <recv request="BYE" timeout="..."> (the hold)');
    process.exit(2);
  }
  return (holdMs: number) => scenario.replace(UAC_HOLD, `$1${holdMs}$2`);
}
