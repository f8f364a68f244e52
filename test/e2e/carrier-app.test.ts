import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { exampleSources, packAndInstallExample, type PackedExample } from '../helpers/example-app.js';
import { Child } from '../helpers/sip-stack.js';
import { NUMBERS, TAXES_JSON, TIMING, describeE2E, runSipp, useE2E, type E2E } from './harness.js';

/**
 * examples/carrier-app is a carrier's own drachtio-srf application: its own middleware before and after
 * callgate, callgate from the packed tarball. Packed and installed once for this file.
 */
let packing: Promise<PackedExample> | undefined;
const packed = () => (packing ??= packAndInstallExample(mkdtempSync(join(tmpdir(), 'callgate-pack-'))));

describe('the published package, installed by a carrier\'s application', () => {
  let pkg: PackedExample;
  beforeAll(async () => {
    pkg = await packed();
  }, 300_000);

  it('packs dist/ with its types, the Lua scripts and the live page, and no tests or sources', () => {
    expect(pkg.files).toEqual(expect.arrayContaining([
      'package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/sip/srf-augment.d.ts', 'dist/cli/main.js',
      'dist/redis/lua/admit-4.lua', 'dist/redis/lua/finalize-14.lua', 'dist/admin/live/page.html', 'dist/admin/live/page.js', 'dist/admin/live/page.css',
    ]));
    expect(pkg.files.filter((f) => /(^|\/)test\/|\.test\.|^src\/|^examples\//.test(f))).toEqual([]);
  });

  it('compiles the example with strict tsc, library types checked too (skipLibCheck off): clean', () => {
    expect(pkg.tscOutput).toBe('');
    expect(JSON.parse(readFileSync(join(pkg.appDir, 'tsconfig.json'), 'utf8')).compilerOptions).toMatchObject({ strict: true, skipLibCheck: false });
  });

  it('the example mounts callgate without a single cast', () => {
    for (const file of exampleSources()) expect(readFileSync(file, 'utf8'), file).not.toMatch(/\bas\s+(unknown|any|[A-Z{[(])|<[A-Z]\w*>\s*[a-z(]/);
  });
});

const HOT_LISTED = '447700900999';

function startExample(e2e: E2E, appDir: string): Promise<Child> {
  const settings = {
    drachtio: { host: '127.0.0.1', port: e2e.drachtio.adminPort, secret: e2e.drachtio.secret },
    hotList: [HOT_LISTED],
    callgate: {
      switchId: 'sw1',
      logLevel: 'info',
      redis: { url: e2e.redisUrl, keyPrefix: e2e.keyPrefix, commandTimeoutMs: 2000 },
      routeUris: [e2e.uas.uri],
      cdr: { dir: e2e.cdrDir },
      billing: {
        reservationSeconds: TIMING.reservationSeconds, tickIntervalMs: TIMING.tickIntervalMs, leaseTtlMs: TIMING.leaseTtlMs,
        taxes: JSON.parse(TAXES_JSON),
      },
      sweeper: { intervalMs: TIMING.sweepIntervalMs },
      sip: { drainTimeoutMs: 1000 },
    },
  };
  const file = join(appDir, 'carrier.json');
  writeFileSync(file, JSON.stringify(settings, null, 2));
  const child = new Child('carrier-app', process.execPath, ['dist/app.js', file], { cwd: appDir, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  return child.waitForOutput(/connected to drachtio-server/, 45_000).then(() => child, async (err: unknown) => {
    await child.stop('SIGKILL', 0);
    throw err;
  });
}

describeE2E('e2e: calls through a carrier\'s own application with callgate mounted', () => {
  const e2e = useE2E({ name: 'carrier-app', callgate: false });
  let app: Child;
  beforeAll(async () => {
    const { appDir } = await packed();
    app = await startExample(e2e, appDir);
    e2e.own({ stop: () => app.stop('SIGTERM', 5000) });
  }, 300_000);
  afterAll(async () => {
    await app?.stop('SIGTERM', 5000);
  });

  it('admits and bills a call exactly, and the carrier\'s middleware after admission sees the decision', async () => {
    const acct = await e2e.createAccount({ funds: '10', billingCountry: 'US', fusfOnFile: false });
    const run = await runSipp({
      name: 'carrier-answered', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 2000, timeoutMs: 20_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    // the same figures as test/e2e/answered.test.ts: one 6 s increment of 44 at $0.012345/min, taxed 22.4%
    expect(cdr).toMatchObject({
      account_id: acct.id, disposition: 'answered', sip_code: 200, to: NUMBERS.london, billed_sec: 6, cost: 2235, tax: 501, total: 2736,
    });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 10_000_000 - 2736, reserved: 0, status: 'on' });
    expect(app.output).toContain(`"msg":"admitted","callId":"${cdr!.call_id}","account":"${acct.id}","to":"${NUMBERS.london}"`);
  });

  it('refuses a call without funds with 402 and writes its rejected CDR', async () => {
    const acct = await e2e.createAccount({ funds: '1.50' });
    const run = await runSipp({
      name: 'carrier-402', scenario: 'uac-expect-402', target: e2e.target, service: acct.dial(NUMBERS.premium), timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    const [cdr, ...more] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(more).toHaveLength(0);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'rejected', reason: 'insufficient_funds', sip_code: 402, total: 0 });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 1_500_000, reserved: 0, status: 'on' });
  });

  it('tears a call down when its money runs out, and bills exactly the paid time', async () => {
    // $0.50 a second (test/e2e/teardown.test.ts): $4.20 pays for 8 s, and the account stays ON with $0.20
    const acct = await e2e.createAccount({ funds: '4.20', billingCountry: 'GB' });
    const run = await runSipp({ name: 'carrier-teardown', scenario: 'uac-expect-bye', target: e2e.target, service: acct.dial(NUMBERS.perSecond), timeoutMs: 25_000 });
    expect(run.code, `the network must hang up with a BYE; sipp log: ${run.logPath}`).toBe(0);
    expect(run.logLines.find((l) => l.includes('event=bye'))).toMatch(/reason=SIP;cause=402;text="Insufficient funds"/);
    const [cdr] = await e2e.cdrsOfRun(run.callIdPrefix, 1);
    expect(cdr).toMatchObject({ account_id: acct.id, disposition: 'torn_down', reason: 'funds_exhausted', billed_sec: 8, total: 4_000_000 });
    expect(await e2e.snapshot(acct.id)).toMatchObject({ balance: 200_000, reserved: 0, status: 'on' });
  });

  it('a number on the carrier\'s hot-list is refused by its own middleware before callgate: 403, no CDR, no money moved', async () => {
    const acct = await e2e.createAccount({ funds: '10' });
    const run = await runSipp({
      name: 'carrier-hot-list', scenario: 'uac-expect-403', target: e2e.target, service: acct.dial(HOT_LISTED), timeoutMs: 15_000,
    });
    expect(run.code, `sipp log: ${run.logPath}`).toBe(0);
    expect(run.logLines.join('\n')).toContain('Number on the hot-list');
    // a call admitted after it proves the CDR files are current; the hot-listed one never reached them
    const after = await runSipp({
      name: 'carrier-after-hot-list', scenario: 'uac-answered', target: e2e.target, service: acct.dial(NUMBERS.london), holdMs: 500, timeoutMs: 20_000,
    });
    expect(after.code, `sipp log: ${after.logPath}`).toBe(0);
    await e2e.cdrsOfRun(after.callIdPrefix, 1);
    expect(e2e.cdrs((c) => c.sip_call_id.startsWith(run.callIdPrefix))).toEqual([]);
    expect((await e2e.snapshot(acct.id)).reserved).toBe(0);
  });
});
