/**
 * The customer CDR download server (read-only SFTP, one chrooted folder per account) and the credential
 * checks that the account tools use to set its passwords and keys.
 */
export {
  CdrAccessInputError,
  checkCdrPassword,
  hashCdrPassword,
  keyFingerprint,
  keyMatches,
  parseAuthorizedKey,
  verifyCdrPassword,
  type AuthorizedKey,
} from './credentials.js';
export { LoginLockout, LOCKOUT_DEFAULTS, type LockoutCheck, type LockoutOptions } from './lockout.js';
export { MAX_NAME_BYTES, MAX_PATH_BYTES, normaliseSftpPath, SftpPathError, type SftpPathProblem } from './paths.js';
export {
  createCdrSftpServer,
  type CdrSftpServer,
  type CdrSftpServerOptions,
  type SftpCredentials,
  type SftpLogger,
  type SftpLoginFailure,
} from './server.js';
