import { mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import type { Engine, FinalizeRequest } from '../redis/engine.js';

interface Line {
  op: 'finalize' | 'done';
  callId: string;
  req?: FinalizeRequest;
}

/**
 * A local, fsynced journal of finalizes that could not reach Redis. A call that ends during a Redis
 * outage keeps its exact priced usage here until the finalize lands, so neither the outage nor a restart
 * in the middle of it loses money. Finalize is idempotent, so replaying a journaled finalize that did in
 * fact land is a no-op.
 */
export function createUsageJournal({ dir, switchId, logger }: { dir: string; switchId: string; logger: Logger }) {
  const path = join(dir, `${switchId}.jsonl`);
  let handle: FileHandle | undefined;
  let tail: Promise<unknown> = Promise.resolve();

  async function append(line: Line, durable: boolean): Promise<void> {
    const run = tail.then(async () => {
      if (!handle) {
        await mkdir(dir, { recursive: true });
        handle = await open(path, 'a');
      }
      await handle.write(`${JSON.stringify(line)}\n`);
      if (durable) await handle.sync();
    });
    tail = run.catch(() => {});
    return run;
  }

  async function pending(): Promise<FinalizeRequest[]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return [];
    }
    const open = new Map<string, FinalizeRequest>();
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // a torn last line from a crash: its finalize was never acknowledged to anyone
      }
      if (line.op === 'finalize' && line.req) open.set(line.callId, line.req);
      else if (line.op === 'done') open.delete(line.callId);
    }
    return [...open.values()];
  }

  return {
    path,
    /** Makes a finalize durable locally before it is retried against Redis. */
    record: (req: FinalizeRequest) => append({ op: 'finalize', callId: req.callId, req }, true),
    /** The journaled finalize landed. */
    settled: (callId: string) => append({ op: 'done', callId }, false),
    pending,
    /**
     * Replays what an earlier run left unsettled (at start-up), then compacts the journal to what is still
     * pending. Returns the CDR entries the replay produced, for the CDR writer.
     */
    async replay(engine: Pick<Engine, 'finalizeCall'>): Promise<{ accountId: string; cdrEntryId: string }[]> {
      const left: FinalizeRequest[] = [];
      const written: { accountId: string; cdrEntryId: string }[] = [];
      for (const req of await pending()) {
        try {
          const r = await engine.finalizeCall(req);
          if (r.outcome === 'finalized') written.push({ accountId: req.accountId, cdrEntryId: r.cdrEntryId });
        } catch (err) {
          logger.warn({ err, callId: req.callId }, 'journaled finalize still cannot reach Redis; kept for the next replay');
          left.push(req);
        }
      }
      await tail;
      await handle?.close();
      handle = undefined;
      await mkdir(dir, { recursive: true });
      const tmp = `${path}.tmp`;
      await writeFile(tmp, left.map((req) => `${JSON.stringify({ op: 'finalize', callId: req.callId, req })}\n`).join(''));
      await rename(tmp, path);
      if (written.length > 0) logger.info({ replayed: written.length }, 'replayed journaled finalizes');
      return written;
    },
    async close(): Promise<void> {
      await tail;
      await handle?.close();
      handle = undefined;
    },
  };
}

export type UsageJournal = ReturnType<typeof createUsageJournal>;
