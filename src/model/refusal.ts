/** Why an INVITE is refused. A closed set: metric labels, SIP codes (config `sip.codes`) and CDR reasons. */
export const REJECT_REASONS = [
  'unknown_account',
  'ambiguous_account',
  'no_rate',
  'off_manual',
  'off_funds',
  'insufficient_funds',
  'cps_exceeded',
  'channel_limit',
  'unavailable',
  'invalid_request_uri',
  'number_too_long',
  'overloaded',
  'fraud_blocked',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Readable text for each refusal, sent in the RFC 3326 Reason header and written to the attempt CDR. */
export const REJECT_TEXT: Record<RejectReason, string> = {
  unknown_account: 'Unknown source or account',
  ambiguous_account: 'Ambiguous source: several accounts match',
  no_rate: 'No rate for the dialed destination',
  off_manual: 'Account suspended',
  off_funds: 'Account disabled for funds',
  insufficient_funds: 'Insufficient funds',
  cps_exceeded: 'Call rate limit exceeded',
  channel_limit: 'Channel limit reached on this switch',
  unavailable: 'Admission temporarily unavailable',
  invalid_request_uri: 'Request-URI user carries a password',
  number_too_long: 'Dialed number too long',
  overloaded: 'Overloaded: call shed, try again later',
  fraud_blocked: 'Destination blocked by a fraud rule',
};
