/** The shared domain model: types and facts every other folder speaks in. Pure, no I/O. */
export * from './account.js';
export * from './call.js';
export * from './call-end.js';
export * from './refusal.js';
export * from './sip-text.js';
