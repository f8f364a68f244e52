// Lua scripts are read at run time from dist/redis/lua, so the build copies them beside the compiled code.
import { cpSync } from 'node:fs';
cpSync(new URL('../src/redis/lua', import.meta.url), new URL('../dist/redis/lua', import.meta.url), { recursive: true });
