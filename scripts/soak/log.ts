/** The soak's progress lines, stamped with the seconds since it started. */
export type SoakLog = (line: string) => void;

export function createSoakLog(startedAt: number): SoakLog {
  return (s: string) => console.log(`[soak +${String(Math.round((Date.now() - startedAt) / 1000)).padStart(5)} s] ${s}`);
}
