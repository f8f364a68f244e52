/**
 * The one table from the admin API's field names to what the engineer typed: a problem the API reports for
 * `deckId` is told as `--deck`, `creditLimit` as `--credit-limit`. Positional arguments are named as in
 * `--help` (`<id>`, `<usd>`). A command whose argument names a field differently passes an override.
 */
export const FIELD_FLAGS: Readonly<Record<string, string>> = {
  id: '<id>',
  type: '--type',
  name: '--name',
  creditLimit: '--credit-limit',
  channels: '--channels',
  cps: '--cps',
  burst: '--burst',
  fusfOnFile: '--fusf-on-file',
  billingCountry: '--billing-country',
  lowBalanceThreshold: '--low-balance-threshold',
  deckId: '--deck',
  ips: '--ip',
  techPrefix: '--tech-prefix',
  amountUsd: '<usd>',
  amount: '<usd>',
  paymentId: '--payment-id',
  status: '<on|off>',
  note: '--note',
  cursor: '--cursor',
  limit: '--limit',
  offset: '--offset',
  accountId: '--account',
  switchId: '--switch',
  prefix: '--prefix',
  day: '<day>',
  password: '--password-stdin',
  authorizedKeys: '--key-file',
  includeRefused: '--include-refused',
};

export type FieldOverrides = Readonly<Record<string, string>>;

/** `ips[1]` is the second --ip given: said as `--ip #2`. */
function flagOf(field: string, index: string | undefined, overrides: FieldOverrides): string | undefined {
  const flag = overrides[field] ?? FIELD_FLAGS[field];
  if (flag === undefined) return undefined;
  return index === undefined ? flag : `${flag} #${Number(index) + 1}`;
}

/**
 * One API problem text in the CLI's words. The API writes `field: what is wrong` (the service) or
 * `"field": unknown field` (the schema); only the leading field name is replaced, the rest is kept.
 */
export function inCliWords(problem: string, overrides: FieldOverrides = {}): string {
  const unknown = /^"([A-Za-z]+)": unknown field/.exec(problem);
  if (unknown) {
    const flag = flagOf(unknown[1]!, undefined, overrides);
    return flag ? `${flag}: not accepted by this command${problem.slice(unknown[0].length)}` : problem;
  }
  const lead = /^([A-Za-z]+)(?:\[(\d+)\])?(?:\.[A-Za-z.]+)?:/.exec(problem);
  if (!lead) return problem;
  const flag = flagOf(lead[1]!, lead[2], overrides);
  return flag ? `${flag}:${problem.slice(lead[0].length)}` : problem;
}
