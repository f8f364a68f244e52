/**
 * The baseline of bench:sip: a bare drachtio-srf B2BUA on the same route with no admission at all, so the
 * bench measures what callgate's admission, metering and CDRs cost on top of bridging itself.
 *   node --import tsx bench/bare-b2bua.ts <drachtioPort> <secret> <routeUri>
 */
import Srf from 'drachtio-srf';
import { routeTarget } from '../src/sip/bridge.js';

const [port, secret, route] = process.argv.slice(2);
if (!port || !secret || !route) {
  console.error('usage: bare-b2bua.ts <drachtioPort> <secret> <routeUri>');
  process.exit(1);
}
const srf = new Srf();
srf.invite(async (req, res) => {
  try {
    const user = Srf.parseUri(req.uri)?.user ?? '';
    const { uas, uac } = await srf.createB2BUA(req, res, routeTarget(route, user), { passFailure: false } as Srf.CreateB2BUAOptions);
    uas.on('destroy', () => uac.destroy());
    uac.on('destroy', () => uas.destroy());
  } catch (err) {
    const status = (err as { status?: number }).status ?? 500;
    if (!res.finalResponseSent) res.send(status);
  }
});
srf.on('connect', (err: Error | null) => {
  if (!err) console.log('connected to drachtio-server');
});
srf.connect({ host: '127.0.0.1', port: Number(port), secret });
process.on('SIGTERM', () => {
  srf.disconnect();
  process.exit(0);
});
