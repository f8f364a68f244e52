/** An error as the one line that stats().lastError, the logs and dead letters show. */
export const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** Whether a Redis reply error carries `code` (BUSYGROUP, NOGROUP, ...). */
export const isRedisError = (err: unknown, code: string) => err instanceof Error && err.message.startsWith(code);

export class DispatcherStateError extends Error {
  override readonly name = 'DispatcherStateError';
}
