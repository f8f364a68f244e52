import { describe, expect, it } from 'vitest';
import {
  CdrAccessInputError,
  checkCdrPassword,
  hashCdrPassword,
  keyFingerprint,
  keyMatches,
  parseAuthorizedKey,
  verifyCdrPassword,
} from './credentials.js';

/** Public keys made by ssh-keygen (OpenSSH 9.2), with the fingerprints `ssh-keygen -l` printed for them. */
const KEYS = {
  ED25519: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKHea2xJkY7FjLr6e04TdXTNhjznyAmiYs0gAEF2MLrJ',
  ECDSA_256: 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCdACNOG4XBY9mK4Io3Ho3Yn1qNJofxkLVVlG4UDeJY7zKfu5pQvaKCQSx5bZsh3K+yhDcYIe+gceOvvNKsP8AA=',
  ECDSA_384: 'ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBGGkwVJzcsduj/WgOHB8+9JQNWqKVzoEkN86SmIZw0ES0qoyXwnzfyvf36oBRmkHxP86hjmydvZiClgzWhjzD1YctsM/QVrdgrFUVp7HW7gv85HiiiI7cQ2MZiCGor12NQ==',
  ECDSA_521: 'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAGxnVEUWkEt+MVhx0gdlf6XcZPFrrbtgMyzc4qzK0XPKocJQ93kmv25WmoGbzI2zGLxtlXSVT5OzPwc4l3kh+/S0QBOtN61uo26PamiXC8W7U76OorD7911xWMjY4ct4FqlVMC5U66eA2KfmXEeHTdhMxpXE7BZ7TnBBQJdHpOfYUqr9g==',
  RSA_2048: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCia0qnSqV+wtUkL/ewshfEeBwOAaYiwXoZimKbsFc/3dcdXdUP5H6GrARjf/C8fCGzhhGrYEh98V9aOSI5GaNJvT8DTPEm0VvxwZsi+ghEJ0KwtUBksw+kFVJCG9MenXokh12c05cie0g+ZgwgfZ37R47AM7v3vCg+qo/DxlAxuh01WxYGNZ4lpoBypXGH3OXQgo9tQJMJ4XDrgj5wq1gokhzDHQlTxPHMoWh3gX2cq/ZDru5I42EhNye49j7e9FiNeyax7GJXit7DRydqqZ+WgKGNBAcSDTGbTc9nk35FOk2nbhblVtUmHDuBePWVGElCcrRTYjZS20k0LzAFFTRV',
  RSA_2047: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAGQd8R8Yj41YFARCUPPr93gJfw7HT9mCiFS2R56a2J6ne/1qfnxktN4/SFrYORhmpFTUkoqRR6DtHAiSdeYzOvs+2ki7va1kLH+7vzDDg50JJbf2yZQbJpiAQRaGsdvq1wEpZBg1Vu82KhcL8SaeEEwxkJYiQ6KyiIEqXY/WFUi5CmgBDOiO0HiWSm1b6Nb9FRNFkmk7/q4+H2/fkgdQ4oXFc8fojLL7KD8jbHee7OS/QQDIW/fRQLfGPcrHCLp5a0J6+4Dd4d/bsU1rbOKqdlWtnUIc6av0UtIJYJ+zjHL/WX845WKX1/ry69x9sLwH3Tzyio8JC7g2Cd35wIP9W10=',
  RSA_1024: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC/JWP7afLYm24SP7zillR+2ymhfoYsfrp61oOzESSk45XQP5s2qYahw3P+OlrF42/3O7umNVv+r5VIOLdw31slIlg8LbmBrb3P8QcN18jHTkZyQKY2uYEOSMGRH1n6KxvDFFHAYOQZImASGO+fZVkQWyLuu/YkJbZpAxTNS9v4DQ==',
  DSA: 'ssh-dss AAAAB3NzaC1kc3MAAACBAN/g47zAdL5zM6kjQNIu6+QCSP/qPhtXHLv8zV6V/gBAPY1Cx1a5FKXqVr01x0vLF1SZnoTbkAHYEg23e1tiXFniuQbUxzpJ63c1XqM2uEMprs1JaFfhzgdTOiWhiaU8pJCw7P1b/5jkpfDYb5B/Rzg7t3WO5Lf9qIJxAxEAgA8fAAAAFQDUwQH60haSfdehVuj6wWZ1kokVUwAAAIEAngUzP9uJ73HCxkwu2iLjDuKkcQxhfaEgL1W8o9OfEbnD1T7AksjP6En9ayitoNg6YLXeQqdSESk0lWJGM7WYOPBceD3M2YYQoNmdNvbCuPvTApM1asaljv5Vz+c2LiMYFEXO739h0AlV4HX1gC0R2vtpovGYbx1rkW6TZ8/H3dQAAACATnwJo7ZFuSC3eZStaIti/ixAKLgcGC8R9idyr1w80hNyRtlXMgu6mlEcwrzzRtx1AQb0fNB3TiNbCRuUXefwfrxvS0NTv4k1mNiK8klQVrhBv19qZijkJ0e72TQRdJDh1l06LJAOO8BLxzuqz1U+DnpBACb8KbC83VJJnHuLe64=',
} as const;
const FINGERPRINTS = {
  ED25519: 'SHA256:cvOUvcA8P2HDwpsaXAVHGKZkdslj7rfFtkUt0ExHh2Y',
  ECDSA_256: 'SHA256:VlHpiBTbUOoI/fDKaf27tjOZA2UHGwIIkw8RCNNhURU',
  ECDSA_384: 'SHA256:tvqx2a7bKjwX3HNfj78mYNCcPV+6SGq7sSUp5j7WWGA',
  ECDSA_521: 'SHA256:vnN9QgVKFnxQA4AmCdygcOj1LLlyxN5c5yhefPG/t58',
  RSA_2048: 'SHA256:nlGLbHmMUcMatjYcvyys7NV8Y4NarvZyQJCQ0a3mHC0',
} as const;

const blobOf = (line: string) => Buffer.from(line.split(' ')[1] ?? '', 'base64');
const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(CdrAccessInputError);
    return (err as Error).message;
  }
  throw new Error('expected a CdrAccessInputError');
};

describe('CDR passwords', () => {
  it('hashes with scrypt N=2^15 r=8 p=1, a 16-byte salt and a 32-byte key, a fresh salt each time', async () => {
    const a = await hashCdrPassword('correct horse battery');
    const b = await hashCdrPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.split('$')[4] ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(a.split('$')[5] ?? '', 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(await verifyCdrPassword('correct horse battery', a)).toBe(true);
    expect(await verifyCdrPassword('correct horse battery', b)).toBe(true);
  });

  it('refuses any other password', async () => {
    const hash = await hashCdrPassword('correct horse battery');
    for (const wrong of ['correct horse batter', 'correct horse battery ', 'Correct horse battery', '', 'x'.repeat(300)]) {
      expect(await verifyCdrPassword(wrong, hash)).toBe(false);
    }
  });

  it('answers false, never throws, for a malformed or out-of-bounds hash', async () => {
    const good = await hashCdrPassword('correct horse battery');
    const [, , , , salt = '', key = ''] = good.split('$');
    const malformed = [
      '',
      'scrypt',
      'bcrypt$32768$8$1$' + salt + '$' + key,
      `scrypt$32768$8$1$${salt}`,
      `scrypt$32768$8$1$${salt}$${key}$extra`,
      `scrypt$32767$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$512$8$1$${salt}$${key}`, // N too small
      `scrypt$1048576$8$1$${salt}$${key}`, // would need 1 GiB
      `scrypt$32768$0$1$${salt}$${key}`,
      `scrypt$32768$8$99$${salt}$${key}`,
      `scrypt$032768$8$1$${salt}$${key}`,
      `scrypt$32768$8$1$${salt.slice(0, 8)}$${key}`, // salt too short
      `scrypt$32768$8$1$${salt}$${key.slice(0, 8)}`, // key too short
      `scrypt$32768$8$1$${salt}$${key.replace('=', '')}`, // not padded
      `scrypt$32768$8$1$${salt}$!${key.slice(1)}`,
      `scrypt$32768$8$1$${salt}$${key} `,
      'x'.repeat(10_000),
    ];
    for (const encoded of malformed) expect(await verifyCdrPassword('correct horse battery', encoded), encoded).toBe(false);
    expect(await verifyCdrPassword('correct horse battery', null as unknown as string)).toBe(false);
    expect(await verifyCdrPassword(undefined as unknown as string, good)).toBe(false);
  });

  it('accepts 12 to 256 printable characters, spaces and any script included', () => {
    for (const ok of ['123456789012', 'correct horse battery staple', 'пароль-пароль-123', '密码密码密码密码密码密码', 'a'.repeat(256), '😀'.repeat(12)]) {
      expect(() => checkCdrPassword(ok)).not.toThrow();
    }
  });

  it('refuses short, long and unprintable passwords with a message saying why', async () => {
    expect(refusal(() => checkCdrPassword('12345678901'))).toMatch(/too short: at least 12 .* it has 11/);
    expect(refusal(() => checkCdrPassword('a'.repeat(257)))).toMatch(/too long: at most 256 .* it has 257/);
    for (const bad of ['correct\thorse battery', 'correct horse\nbattery', 'correct horse battery\u0000', 'correct\u007fhorse battery', 'correct\u200bhorse battery', 'correct\u2028horse battery']) {
      expect(refusal(() => checkCdrPassword(bad))).toMatch(/printable/);
    }
    await expect(hashCdrPassword('short')).rejects.toBeInstanceOf(CdrAccessInputError);
  });
});

describe('authorized public keys', () => {
  it('accepts ed25519, ECDSA and RSA of 2048 bits, with the fingerprint ssh-keygen prints', () => {
    for (const name of ['ED25519', 'ECDSA_256', 'ECDSA_384', 'ECDSA_521', 'RSA_2048'] as const) {
      const key = parseAuthorizedKey(`${KEYS[name]} someone@laptop`);
      expect(key.type).toBe(KEYS[name].split(' ')[0]);
      expect(key.fingerprint).toBe(FINGERPRINTS[name]);
      expect(key.line).toBe(`${KEYS[name]} someone@laptop`);
    }
  });

  it('normalises the line: one space between fields, the comment kept, none when there is none', () => {
    const [type, base64] = KEYS.ED25519.split(' ');
    expect(parseAuthorizedKey(`  ${type}\t ${base64}   ops  key 2 \n`).line).toBe(`${type} ${base64} ops  key 2`);
    expect(parseAuthorizedKey(`${type} ${base64}`).line).toBe(`${type} ${base64}`);
    expect(keyFingerprint(blobOf(KEYS.ED25519))).toBe(FINGERPRINTS.ED25519);
  });

  it('refuses RSA under 2048 bits, DSA, certificates, security keys and options', () => {
    expect(refusal(() => parseAuthorizedKey(KEYS.RSA_1024))).toMatch(/1024 bits: at least 2048/);
    expect(refusal(() => parseAuthorizedKey(KEYS.RSA_2047))).toMatch(/2047 bits: at least 2048/);
    expect(refusal(() => parseAuthorizedKey(KEYS.DSA))).toMatch(/"ssh-dss" is not accepted/);
    const base64 = KEYS.ED25519.split(' ')[1];
    expect(refusal(() => parseAuthorizedKey(`ssh-ed25519-cert-v01@openssh.com ${base64}`))).toMatch(/not accepted/);
    expect(refusal(() => parseAuthorizedKey(`sk-ssh-ed25519@openssh.com ${base64}`))).toMatch(/not accepted/);
    expect(refusal(() => parseAuthorizedKey(`command="/bin/sh" ${KEYS.ED25519}`))).toMatch(/not an OpenSSH public key line|not accepted/);
    expect(refusal(() => parseAuthorizedKey(`no-pty ${KEYS.ED25519}`))).toMatch(/not accepted/);
  });

  it('refuses what is not exactly the key it claims to be', () => {
    const [, edBase64 = ''] = KEYS.ED25519.split(' ');
    const [, rsaBase64 = ''] = KEYS.RSA_2048.split(' ');
    expect(refusal(() => parseAuthorizedKey(''))).toMatch(/empty/);
    expect(refusal(() => parseAuthorizedKey('ssh-ed25519'))).toMatch(/not an OpenSSH public key line/);
    expect(refusal(() => parseAuthorizedKey(`ssh-rsa ${edBase64}`))).toMatch(/not a ssh-rsa key|malformed/);
    expect(refusal(() => parseAuthorizedKey(`ssh-ed25519 ${rsaBase64}`))).toMatch(/not a ssh-ed25519 key|malformed/);
    expect(refusal(() => parseAuthorizedKey(`ssh-ed25519 ${edBase64.slice(0, -4)}`))).toMatch(/malformed/);
    expect(refusal(() => parseAuthorizedKey(`ssh-ed25519 ${edBase64}AAAA`))).toMatch(/malformed|not a ssh-ed25519 key/);
    expect(refusal(() => parseAuthorizedKey(`ssh-ed25519 ${edBase64}garbage`))).toMatch(/not an OpenSSH public key line/);
    const [, ecBase64 = ''] = KEYS.ECDSA_256.split(' ');
    expect(ecBase64.endsWith('=')).toBe(true);
    expect(refusal(() => parseAuthorizedKey(`ecdsa-sha2-nistp256 ${ecBase64.replace(/=$/, '')}`))).toMatch(/not an OpenSSH public key line/);
    expect(refusal(() => parseAuthorizedKey(`${KEYS.ED25519}\n${KEYS.RSA_2048}`))).toMatch(/one line/);
    expect(refusal(() => parseAuthorizedKey('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----'))).toMatch(/one line|private key/);
    expect(refusal(() => parseAuthorizedKey(`ssh-ed25519 ${'A'.repeat(20_000)}`))).toMatch(/too long/);
  });

  it('matches the offered key blob, with rsa-sha2-* as an ssh-rsa key', () => {
    expect(keyMatches(`${KEYS.ED25519} c`, { algo: 'ssh-ed25519', data: blobOf(KEYS.ED25519) })).toBe(true);
    expect(keyMatches(KEYS.ECDSA_256, { algo: 'ecdsa-sha2-nistp256', data: blobOf(KEYS.ECDSA_256) })).toBe(true);
    for (const algo of ['ssh-rsa', 'rsa-sha2-256', 'rsa-sha2-512']) {
      expect(keyMatches(KEYS.RSA_2048, { algo, data: blobOf(KEYS.RSA_2048) })).toBe(true);
    }
  });

  it('matches nothing else, and never throws', () => {
    const ed = blobOf(KEYS.ED25519);
    expect(keyMatches(KEYS.ED25519, { algo: 'ssh-ed25519', data: blobOf(KEYS.ECDSA_256) })).toBe(false);
    expect(keyMatches(KEYS.ED25519, { algo: 'ssh-ed25519', data: ed.subarray(0, ed.length - 1) })).toBe(false);
    const flipped = Buffer.from(ed);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    expect(keyMatches(KEYS.ED25519, { algo: 'ssh-ed25519', data: flipped })).toBe(false);
    expect(keyMatches(KEYS.ED25519, { algo: 'ssh-rsa', data: ed })).toBe(false);
    expect(keyMatches(KEYS.DSA, { algo: 'ssh-dss', data: blobOf(KEYS.DSA) })).toBe(false);
    for (const line of ['', 'garbage', 'ssh-ed25519 !!!', null, undefined, 42]) {
      expect(keyMatches(line as unknown as string, { algo: 'ssh-ed25519', data: ed })).toBe(false);
    }
    expect(keyMatches(KEYS.ED25519, { algo: 'ssh-ed25519', data: 'x' as unknown as Buffer })).toBe(false);
  });
});
