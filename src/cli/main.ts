#!/usr/bin/env node
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// A failed command exits at once: a Redis client still retrying in the background must not hold it open.
// A finished command has closed its connection and exits by itself; `serve` keeps running.
if (code !== 0) process.exit(code);
