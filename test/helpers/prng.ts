/** mulberry32: a small seeded PRNG, so fuzz tests, property tests and benches replay exactly from their seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function createPrng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}

export type Prng = ReturnType<typeof createPrng>;

/** Hostile strings: key-injection characters, unicode, control characters, huge values, SIP syntax. */
export function hostileString(r: Prng): string {
  const atoms = [
    '{', '}', ':', '*', '|', '\n', '\r\n', '\0', '%', '%23', '%7B', '#', ';', '@', '<', '>', '"', "'", ' ', '\t', '\\',
    'a:', '{a:victim}', '}{', '../', '*:*', '=cmd|', '+', '-', '١٢٣', '𝟘𝟙', 'é', '\u202e', '\ufeff', 'ſ', 'ＡＢＣ',
    '4420', '1001#', '1', '0', 'sip:', 'acme', 'x'.repeat(70), '9'.repeat(25),
  ];
  const len = r.int(6);
  let s = '';
  for (let i = 0; i < len; i++) s += r.pick(atoms);
  if (r.next() < 0.02) s += 'z'.repeat(5_000 + r.int(100_000));
  return s;
}
