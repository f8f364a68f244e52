import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './sip-stack.js';

const run = promisify(execFile);

/** What `npm pack` needs of the repository to build the package: sources, build config, shipped files. */
const PACKAGE_INPUTS = [
  'package.json', 'package-lock.json', 'README.md', 'LICENSE', 'docs', 'sipp-scenarios', 'src', 'scripts', 'tsconfig.json', 'tsconfig.build.json',
];

export interface PackedExample {
  tarball: string;
  /** Every path in the tarball, without its leading `package/`. */
  files: string[];
  /** The example installed from the tarball, compiled to its dist/. */
  appDir: string;
  /** What the example's strict `tsc` printed (empty when clean). */
  tscOutput: string;
}

/**
 * Packs callgate as it would be published (from a copy of the repository, so the repository's own dist/
 * is left alone), installs the tarball into a copy of examples/carrier-app the way a carrier would
 * (`npm install <tarball>`, no path import), and compiles the example with its own strict tsc.
 */
export async function packAndInstallExample(work: string): Promise<PackedExample> {
  const source = join(work, 'callgate');
  mkdirSync(source, { recursive: true });
  for (const entry of PACKAGE_INPUTS) cpSync(join(REPO_ROOT, entry), join(source, entry), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(source, 'node_modules'));
  // `npm pack` runs the package's prepare script: the build, as for a publish
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: source, maxBuffer: 64 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  const tarball = join(work, packed!.filename);

  const appDir = join(work, 'carrier-app');
  cpSync(join(REPO_ROOT, 'examples', 'carrier-app'), appDir, {
    recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src),
  });
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: appDir });
  let tscOutput = '';
  try {
    await run(process.execPath, [join(appDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: appDir });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    tscOutput = `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
  }
  return { tarball, files: packed!.files.map((f) => f.path), appDir, tscOutput };
}

/** The example's TypeScript sources, for the no-cast check. */
export function exampleSources(): string[] {
  const dir = join(REPO_ROOT, 'examples', 'carrier-app', 'src');
  return readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => join(dir, f));
}
