#!/usr/bin/env node
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// A failed command exits at once, whatever is still pending (a request abandoned at its deadline).
// A finished command has nothing left and exits by itself; `serve` keeps running.
if (code !== 0) process.exit(code);
