export * from './errors.js';
export * from './schema.js';
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
