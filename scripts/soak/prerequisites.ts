/** What the soak needs on the machine: drachtio-server, SIPp and a dist/ build of callgate. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, drachtioBin, sippBin } from '../../test/helpers/sip-stack.js';

export interface Prerequisites {
  sippBin: string;
  /** callgate's entry point in dist/: the soak runs the build. */
  builtEntry: string;
}

/** drachtio-server, SIPp and a dist/ build must be there; exits 2 saying which is missing. */
export function checkPrerequisites(): Prerequisites {
  if (!drachtioBin || !sippBin) {
    console.error(`soak needs drachtio-server and sipp: ${!drachtioBin ? 'no drachtio binary (PATH or DRACHTIO_BIN)' : 'no sipp on PATH'}`);
    process.exit(2);
  }
  const builtEntry = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(builtEntry)) {
    console.error('soak runs callgate built from dist/: run `npm run build` first');
    process.exit(2);
  }
  return { sippBin, builtEntry };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** True when src/ changed after dist/ was built: the soak would run the build, not the sources. */
export function buildIsStale(builtEntry: string): boolean {
  return newestMtime(join(REPO_ROOT, 'src')) > statSync(builtEntry).mtimeMs;
}
