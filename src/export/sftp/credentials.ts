/**
 * The credentials an account downloads its CDR files with over SFTP: a password, kept only as an scrypt
 * hash, and OpenSSH public keys (`authorized_keys` lines without options).
 *
 * A password hash reads `scrypt$<N>$<r>$<p>$<salt b64>$<key b64>`, so its cost can be raised later without
 * breaking the hashes already stored; verifying takes the cost from the hash, within bounds, so that a
 * stored value cannot make a login burn unbounded memory or time. Checks that reject what a person typed
 * throw CdrAccessInputError; the checks a login runs (verifyCdrPassword, keyMatches) never throw, they
 * answer false.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import ssh2 from 'ssh2';

// ssh2 is CommonJS whose exports Node cannot list for ESM: take them from the default export
const { utils } = ssh2;

/** What was given as a CDR password or public key is not acceptable; the message says why, for a person. */
export class CdrAccessInputError extends Error {
  override readonly name = 'CdrAccessInputError';
  readonly code = 'invalid_cdr_access';
}

const SCRYPT_N = 2 ** 15;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

export const CDR_PASSWORD_MIN_LENGTH = 12;
export const CDR_PASSWORD_MAX_LENGTH = 256;

/** Control, format, unassigned and private-use characters, and line or paragraph separators. */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

function scryptKey(password: string, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Throws CdrAccessInputError unless `password` is acceptable: 12 to 256 characters (code points), all
 * printable (spaces are; tabs, line breaks and other control characters are not).
 */
export function checkCdrPassword(password: string): void {
  if (typeof password !== 'string') throw new CdrAccessInputError('the password must be text');
  const length = [...password].length;
  if (length < CDR_PASSWORD_MIN_LENGTH) {
    throw new CdrAccessInputError(`the password is too short: at least ${CDR_PASSWORD_MIN_LENGTH} characters are needed, it has ${length}`);
  }
  if (length > CDR_PASSWORD_MAX_LENGTH) {
    throw new CdrAccessInputError(`the password is too long: at most ${CDR_PASSWORD_MAX_LENGTH} characters are allowed, it has ${length}`);
  }
  if (UNPRINTABLE.test(password)) {
    throw new CdrAccessInputError('the password may hold only printable characters (no tabs, line breaks or other control characters)');
  }
}

/** The stored form of an acceptable password (checkCdrPassword first): scrypt with a fresh random salt. */
export async function hashCdrPassword(password: string): Promise<string> {
  checkCdrPassword(password);
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptKey(password, salt, KEY_BYTES, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: SCRYPT_MAXMEM });
  return ['scrypt', SCRYPT_N, SCRYPT_R, SCRYPT_P, salt.toString('base64'), key.toString('base64')].join('$');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes of canonical padded base64 text, or undefined (Buffer.from alone skips what is not base64). */
function strictBase64(text: string): Buffer | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

const DECIMAL = /^[1-9][0-9]{0,7}$/;

/** The parts of a stored hash, or undefined when it is malformed or its cost is out of bounds. */
function parseScryptHash(encoded: string): ScryptHash | undefined {
  if (typeof encoded !== 'string' || encoded.length > 512) return undefined;
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, nText = '', rText = '', pText = '', saltText = '', keyText = ''] = parts;
  if (!DECIMAL.test(nText) || !DECIMAL.test(rText) || !DECIMAL.test(pText)) return undefined;
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  // N a power of two from 2^10, and within the memory the login may use (scrypt needs 128 * N * r bytes)
  if (N < 2 ** 10 || (N & (N - 1)) !== 0 || r > 32 || p > 16 || 128 * N * r > SCRYPT_MAXMEM / 2) return undefined;
  const salt = strictBase64(saltText);
  const key = strictBase64(keyText);
  if (!salt || !key || salt.length < SALT_BYTES || key.length < 16 || key.length > 64) return undefined;
  return { N, r, p, salt, key };
}

/** Whether `password` is the one `encoded` (hashCdrPassword's output) was made from. False, never a throw, for a malformed hash. */
export async function verifyCdrPassword(password: string, encoded: string): Promise<boolean> {
  const hash = parseScryptHash(encoded);
  if (!hash || typeof password !== 'string') return false;
  try {
    const key = await scryptKey(password, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p, maxmem: SCRYPT_MAXMEM });
    return timingSafeEqual(key, hash.key);
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------ public keys

export const MIN_RSA_BITS = 2048;
const MAX_KEY_LINE_LENGTH = 16 * 1024;
const ECDSA_TYPES = new Set(['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521']);
const isAcceptedType = (type: string) => type === 'ssh-ed25519' || type === 'ssh-rsa' || ECDSA_TYPES.has(type);

export interface AuthorizedKey {
  /** The key type as OpenSSH names it: `ssh-ed25519`, `ecdsa-sha2-nistp256` (384, 521) or `ssh-rsa`. */
  type: string;
  /** `SHA256:<base64 without padding>` of the key blob, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** `<type> <base64>` and the comment after one space when there is one. */
  line: string;
}

/** The type and blob of a line's first two fields, or undefined when they are not a type and strict base64. */
function splitKeyLine(line: string): { type: string; blob: Buffer; comment: string } | undefined {
  const match = /^([A-Za-z0-9@._+-]+)[ \t]+([A-Za-z0-9+/=]+)(?:[ \t]+(.*))?$/.exec(line.trim());
  if (!match) return undefined;
  const [, type = '', base64 = '', comment = ''] = match;
  const blob = strictBase64(base64);
  return blob ? { type, blob, comment: comment.trim() } : undefined;
}

/** The string at the start of an SSH wire-format buffer (uint32 length, then the bytes), and where it ends. */
function readSshString(buf: Buffer, offset: number): { value: Buffer; end: number } | undefined {
  if (offset + 4 > buf.length) return undefined;
  const length = buf.readUInt32BE(offset);
  const end = offset + 4 + length;
  return end <= buf.length ? { value: buf.subarray(offset + 4, end), end } : undefined;
}

/** The modulus size of an `ssh-rsa` blob (string type, mpint e, mpint n), in bits. */
function rsaModulusBits(blob: Buffer): number {
  const type = readSshString(blob, 0);
  const exponent = type && readSshString(blob, type.end);
  const modulus = exponent && readSshString(blob, exponent.end);
  if (!modulus) return 0;
  let n = modulus.value;
  while (n.length > 0 && n[0] === 0) n = n.subarray(1);
  if (n.length === 0) return 0;
  return (n.length - 1) * 8 + (32 - Math.clz32(n[0] ?? 0));
}

/** `SHA256:` and the unpadded base64 of the blob's SHA-256, as OpenSSH prints fingerprints. */
export function keyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * One OpenSSH public key line (`<type> <base64> [comment]`, as in an `.pub` file), checked and normalised.
 * Accepts ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa of at least 2048 bits; refuses, with
 * CdrAccessInputError, anything else: authorized_keys options, certificates, DSA, security-key (sk-) keys,
 * short RSA keys, private keys and blobs that are not exactly the key they claim to be.
 */
export function parseAuthorizedKey(line: string): AuthorizedKey {
  if (typeof line !== 'string' || line.trim().length === 0) throw new CdrAccessInputError('the public key is empty');
  if (line.length > MAX_KEY_LINE_LENGTH) throw new CdrAccessInputError('the public key line is too long');
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(line.trim())) {
    throw new CdrAccessInputError('the public key must be one line of printable text');
  }
  if (line.includes('PRIVATE KEY')) throw new CdrAccessInputError('this is a private key: give the public key (the .pub file) instead');
  const parts = splitKeyLine(line);
  if (!parts) {
    throw new CdrAccessInputError('not an OpenSSH public key line: expected "<type> <base64> [comment]" (authorized_keys options are not accepted)');
  }
  const { type, blob, comment } = parts;
  if (!isAcceptedType(type)) {
    throw new CdrAccessInputError(`key type ${JSON.stringify(type)} is not accepted: use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (${MIN_RSA_BITS} bits or more)`);
  }
  const parsed = utils.parseKey(`${type} ${blob.toString('base64')}`);
  if (parsed instanceof Error || parsed.isPrivateKey()) {
    throw new CdrAccessInputError(`the ${type} key data is malformed`);
  }
  if (parsed.type !== type || !parsed.getPublicSSH().equals(blob)) {
    throw new CdrAccessInputError(`the key data is not a ${type} key`);
  }
  if (type === 'ssh-rsa') {
    const bits = rsaModulusBits(blob);
    if (bits < MIN_RSA_BITS) throw new CdrAccessInputError(`the RSA key has ${bits} bits: at least ${MIN_RSA_BITS} are needed`);
  }
  const base = `${type} ${blob.toString('base64')}`;
  return { type, fingerprint: keyFingerprint(blob), line: comment ? `${base} ${comment}` : base };
}

/** The key type a signature algorithm belongs to (`rsa-sha2-256` and `rsa-sha2-512` sign with `ssh-rsa` keys). */
const keyTypeOfAlgorithm = (algo: string) => (algo === 'rsa-sha2-256' || algo === 'rsa-sha2-512' ? 'ssh-rsa' : algo);

/**
 * Whether the key a client offers (`algo` and the public key blob) is the one on `authorizedLine`. The
 * blobs are compared in constant time; a malformed or unacceptable line matches nothing (no throw).
 */
export function keyMatches(authorizedLine: string, offered: { algo: string; data: Buffer }): boolean {
  const parts = typeof authorizedLine === 'string' ? splitKeyLine(authorizedLine) : undefined;
  if (!parts || !isAcceptedType(parts.type) || !Buffer.isBuffer(offered.data)) return false;
  const sameLength = parts.blob.length === offered.data.length;
  // compare equal lengths even when they differ, so that the time does not tell how much matched
  const equal = timingSafeEqual(parts.blob, sameLength ? offered.data : parts.blob) && sameLength;
  return equal && keyTypeOfAlgorithm(offered.algo) === parts.type;
}
