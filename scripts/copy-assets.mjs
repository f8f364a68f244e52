// tsc compiles only the TypeScript; the files the compiled code reads at run time beside itself (relative to
// its own import.meta.url) are copied here into the same place under dist/.
import { cpSync, existsSync } from 'node:fs';

const RUNTIME_ASSETS = [
  'redis/lua', // the Lua scripts the engine loads into Redis
  'admin/live/page.html', // the live view page, inlined with its style and script by admin/live/served-page.ts
  'admin/live/page.css',
  'admin/live/page.js',
];

const src = (path) => new URL(`../src/${path}`, import.meta.url);

for (const asset of RUNTIME_ASSETS) {
  // a browser script named like a module would overwrite that module's compiled output in dist/
  if (asset.endsWith('.js') && existsSync(src(asset.replace(/\.js$/, '.ts')))) {
    throw new Error(`${asset} would overwrite the compiled ${asset.replace(/\.js$/, '.ts')} in dist/`);
  }
  cpSync(src(asset), new URL(`../dist/${asset}`, import.meta.url), { recursive: true });
}
