export * from './errors.js';
export * from './settings.js';
export * from './account.js';
export * from './hash-codec.js';
export * from './catalog-entry.js';
// the generic builders clearable and sourceAddressList stay inside accounts: only the settings use them
export { PAYMENT_ID_PATTERN, idProblem, printableText, show, usdAmount, wholeNumber } from './input-parsers.js';
export { checkSourceAddress, type AddressCheck } from './addresses.js';
export { ISO_COUNTRY_CODES } from './countries.js';
export {
  createAccountService,
  type AccountPage,
  type AccountService,
  type AccountServiceDeps,
  type ApplyFundsResult,
  type LimitsInput,
  type PutAccountResult,
  type PutMode,
  type RateDeckLoaded,
} from './service.js';
