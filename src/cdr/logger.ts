/** The part of a pino logger the CDR code uses. */
export interface CdrLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentCdrLogger: CdrLogger = { warn: () => {}, error: () => {} };
