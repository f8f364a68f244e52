/**
 * The CLI's one way out: HTTP requests to the admin API. Every failure becomes a named error: the API's
 * own error envelope ({error: {code, message, problems?}}) an ApiError carrying its stable code, anything
 * else (no connection, no answer in time, a reply that is not the envelope) an AdminUnreachableError.
 */
import type { AdminClientSettings } from '../config/admin-client.js';
import { AdminUnreachableError, ApiError } from './errors.js';

export type Fetch = typeof globalThis.fetch;

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the base URL, its parameters already encoded (see `path`). */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as text/csv, as a stream: `onProgress` is told of the bytes handed to the socket. */
  csv?: { bytes: Uint8Array; onProgress?: (sent: number, total: number) => void };
  timeoutMs?: number;
}

/** Builds a path from a template literal, percent-encoding each value. */
export const path = (strings: TemplateStringsArray, ...values: string[]) =>
  strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]!) : ''), '');

const CHUNK = 64 * 1024;

function csvStream(bytes: Uint8Array, onProgress?: (sent: number, total: number) => void): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      const end = Math.min(offset + CHUNK, bytes.length);
      controller.enqueue(bytes.subarray(offset, end));
      offset = end;
      onProgress?.(offset, bytes.length);
    },
  });
}

/** A file the admin API sent: its headers, and its bytes as they arrive. */
export interface Download {
  headers: Headers;
  /** Throws AdminUnreachableError when the transfer stops (no answer in time, the connection lost). */
  chunks: AsyncIterable<Uint8Array>;
}

export function createApiClient(settings: AdminClientSettings, fetchImpl: Fetch = globalThis.fetch, defaultTimeoutMs = 10_000) {
  /** Sends the request; the answer's headers have arrived, its body not yet read. */
  async function send(spec: RequestSpec, accept: string) {
    const url = new URL(settings.url + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept };
    if (settings.token !== '') headers.authorization = `Bearer ${settings.token}`;
    let body: RequestInit['body'];
    let duplex: 'half' | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    } else if (spec.csv) {
      headers['content-type'] = 'text/csv';
      if (spec.csv.onProgress) {
        body = csvStream(spec.csv.bytes, spec.csv.onProgress);
        duplex = 'half';
      } else {
        body = spec.csv.bytes;
      }
    }
    const timeoutMs = spec.timeoutMs ?? defaultTimeoutMs;
    const where = `${spec.method} ${url.origin}${url.pathname}`;
    /** A failure to get (all of) the answer, as the error the CLI reports. */
    const unreachable = (err: unknown) => {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        return new AdminUnreachableError(`no answer from the admin API (${where}) within ${timeoutMs} ms`);
      }
      // fetch refuses some well-known ports outright (https://fetch.spec.whatwg.org/#port-blocking)
      const why = e.cause?.message === 'bad port' ? `port ${url.port} is one that HTTP clients refuse to use` : (e.cause?.code ?? e.cause?.message ?? e.message);
      return new AdminUnreachableError(`cannot reach the admin API at ${settings.url}: ${why}`);
    };
    try {
      const res = await fetchImpl(url, { method: spec.method, headers, body, signal: AbortSignal.timeout(timeoutMs), ...(duplex ? { duplex } : {}) } as RequestInit);
      return { res, where, unreachable };
    } catch (err) {
      throw unreachable(err);
    }
  }

  async function readText(res: Response, unreachable: (err: unknown) => Error): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      throw unreachable(err);
    }
  }

  /** The API's error envelope of a failed answer, as an ApiError (AdminUnreachableError when it is not one). */
  function failure(res: Response, where: string, text: string): Error {
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      return new AdminUnreachableError(`the admin API (${where}) answered ${res.status} with a body that is not JSON; is ${settings.url} callgate's admin API?`);
    }
    const envelope = (parsed as { error?: { code?: unknown; message?: unknown; problems?: unknown; problemCount?: unknown } } | undefined)?.error;
    if (!envelope || typeof envelope.code !== 'string') {
      return new AdminUnreachableError(`the admin API (${where}) answered ${res.status} without an error code`);
    }
    return new ApiError(res.status, envelope.code, String(envelope.message ?? ''), Array.isArray(envelope.problems) ? envelope.problems : [], typeof envelope.problemCount === 'number' ? envelope.problemCount : undefined);
  }

  async function requestWithStatus<T>(spec: RequestSpec): Promise<{ status: number; body: T }> {
    const { res, where, unreachable } = await send(spec, 'application/json');
    const text = await readText(res, unreachable);
    if (!res.ok) throw failure(res, where, text);
    try {
      return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
    } catch {
      throw new AdminUnreachableError(`the admin API (${where}) answered ${res.status} with a body that is not JSON; is ${settings.url} callgate's admin API?`);
    }
  }
  const request = async <T>(spec: RequestSpec): Promise<T> => (await requestWithStatus<T>(spec)).body;

  /**
   * A route that answers a file: `consume` is handed its headers and its bytes as they arrive. A refusal is the
   * API's envelope, thrown as for `request`; `spec.timeoutMs` bounds the whole transfer.
   */
  async function download<T>(spec: RequestSpec, accept: string, consume: (file: Download) => Promise<T>): Promise<T> {
    const { res, where, unreachable } = await send(spec, `${accept}, application/json`);
    if (!res.ok) throw failure(res, where, await readText(res, unreachable));
    const body = res.body;
    async function* chunks(): AsyncIterable<Uint8Array> {
      if (!body) return;
      const reader = body.getReader();
      try {
        for (;;) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await reader.read();
          } catch (err) {
            throw unreachable(err);
          }
          if (next.done) return;
          yield next.value;
        }
      } finally {
        // a consumer that stops early (a write that failed) ends the transfer
        reader.cancel().catch(() => {});
      }
    }
    return consume({ headers: res.headers, chunks: chunks() });
  }

  return { request, requestWithStatus, download, url: settings.url };
}

export type ApiClient = ReturnType<typeof createApiClient>;
