import { readFileSync } from 'node:fs';
import Srf from 'drachtio-srf';
import { connectRedis, createCallgate, resolveConfig, type CallgateConfigInput } from 'callgate';
import { logAdmitted, refuseHotListed } from './rules.js';

interface CarrierSettings {
  drachtio: { host: string; port: number; secret: string };
  hotList: string[];
  callgate: CallgateConfigInput;
}

const settings: CarrierSettings = JSON.parse(readFileSync(process.argv[2] ?? 'carrier.json', 'utf8'));

// callgate, mounted between the carrier's own middleware
const config = resolveConfig(settings.callgate);
const { redis, close } = await connectRedis(config);
const srf = new Srf();
const callgate = createCallgate({ srf, redis, config });
srf.use('invite', refuseHotListed(settings.hotList));
srf.use('invite', callgate.admission);
srf.use('invite', logAdmitted);
srf.invite(callgate.bridge);
await callgate.start();

srf.on('connect', (err, hostport) => {
  if (err) console.error(JSON.stringify({ msg: 'drachtio-server refused the connection', err: err.message }));
  else console.log(JSON.stringify({ msg: 'connected to drachtio-server', hostport }));
});
srf.on('error', (err) => console.error(JSON.stringify({ msg: 'drachtio link error', err: err.message })));
srf.connect({ ...settings.drachtio, reconnect: { retryMaxDelay: 2000 } });

process.once('SIGTERM', () => {
  void (async () => {
    await callgate.drain();
    await callgate.stop();
    srf.disconnect();
    await close();
    process.exit(0);
  })();
});
