/** Codes returned as the first element of every callgate script reply. One place maps them to meaning. */
export enum ScriptCode {
  Ok = 1,
  /** tick: funds short, the call holds what was left; funds: payment id already applied */
  Short = 2,
  AlreadyDone = 0,
  UnknownAccount = -1,
  AccountOff = -2,
  InsufficientFunds = -3,
  CpsExceeded = -4,
  ChannelLimit = -5,
  CallNotFound = -6,
  DuplicateCall = -7,
  AlreadyExists = -8,
  BalanceLimit = -9,
  /** funds: the payment id was applied before for another amount */
  PaymentConflict = -10,
}

export class UnexpectedScriptReplyError extends Error {
  override readonly name = 'UnexpectedScriptReplyError';
  constructor(script: string, reply: unknown) {
    super(`${script} returned an unexpected reply: ${JSON.stringify(reply)?.slice(0, 200)}`);
  }
}
