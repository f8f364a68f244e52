import type { SipMiddleware } from 'callgate';

/**
 * The carrier's own rule, before callgate: numbers on its fraud hot-list are refused at once, whatever
 * tech prefix precedes them, so they cost no Redis work and leave no CDR.
 */
export function refuseHotListed(numbers: readonly string[]): SipMiddleware {
  return (req, res, next) => {
    if (numbers.some((n) => req.calledNumber.endsWith(n))) {
      res.send(403, { headers: { Reason: 'SIP;cause=403;text="Number on the hot-list"' } });
      return;
    }
    next();
  };
}

/** And after callgate: the carrier's own line for every call callgate admitted, before it is bridged. */
export const logAdmitted: SipMiddleware = (req, _res, next) => {
  const call = req.locals.callgate;
  if (call) console.log(JSON.stringify({ msg: 'admitted', callId: call.callId, account: call.account.id, to: call.destination }));
  next();
};
