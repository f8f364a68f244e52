import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deadlinesOf, stallPolicyOf, type Redis } from './client.js';

const LUA_DIR = new URL('./lua/', import.meta.url);
const INCLUDE = /^--- @include "([a-z0-9-]+)"\s*$/gm;

/** A Lua script read from src/redis/lua/<name>-<numberOfKeys>.lua, with its includes inlined. */
export interface LuaScript {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly source: string;
  readonly sha1: string;
}

export function loadLuaScript(name: string, numberOfKeys: number): LuaScript {
  const read = (file: URL) => readFileSync(file, 'utf8');
  const body = read(new URL(`${name}-${numberOfKeys}.lua`, LUA_DIR));
  const source = body.replace(INCLUDE, (_, inc: string) => read(new URL(`includes/${inc}.lua`, LUA_DIR)));
  return { name, numberOfKeys, source, sha1: createHash('sha1').update(source).digest('hex') };
}

export function luaScriptFromSource(name: string, numberOfKeys: number, source: string): LuaScript {
  return { name, numberOfKeys, source, sha1: createHash('sha1').update(source).digest('hex') };
}

export class ScriptKeysError extends Error {
  override readonly name = 'ScriptKeysError';
}

/** A script got no answer within the connection's operation deadline; it may still run later. */
export class ScriptTimeoutError extends Error {
  override readonly name = 'ScriptTimeoutError';
}

/** How long one script call may take, and what to do with an answer that comes after that. */
export interface ScriptCallOptions {
  /** Overrides the connection's operation deadline for this call (admission's own, shorter bound). */
  timeoutMs?: number;
  /** Receives a reply that arrived after the call had already failed for its deadline. */
  onLate?: (reply: unknown) => void;
}

/** Bounds a script by its own or its connection's deadline (connectRedis); a miss is reported as a stall. */
function withinStallPolicy(redis: Redis, key: string, script: LuaScript, run: () => Promise<unknown>, options: ScriptCallOptions): Promise<unknown> {
  const policy = stallPolicyOf(redis);
  const timeoutMs = options.timeoutMs ?? policy?.timeoutMs;
  if (timeoutMs === undefined) return run();
  return deadlinesOf(redis).within(
    timeoutMs,
    run,
    () => {
      policy?.onStall(key);
      return new ScriptTimeoutError(`${script.name} got no answer from Redis within ${timeoutMs} ms`);
    },
    options.onLate ? { onLate: options.onLate } : undefined,
  );
}

/**
 * EVALSHA, falling back to EVAL once when the server has not seen the script (a restart, a failover, a
 * new cluster node). The first key routes the call on a cluster. On a connection made by connectRedis the
 * call is bounded by redis.operationTimeoutMs, whether or not the command was already written.
 */
export async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: string[],
  args: (string | number)[],
  options: ScriptCallOptions = {},
): Promise<unknown> {
  if (keys.length !== script.numberOfKeys) {
    throw new ScriptKeysError(`${script.name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  const command = { keys, arguments: args.map(String) };
  return withinStallPolicy(redis, keys[0] ?? '', script, async () => {
    try {
      return await redis.evalSha(script.sha1, command);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(script.source, command);
      throw err;
    }
  }, options);
}
