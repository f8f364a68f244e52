/**
 * The days whose files are open. A day is opened on its first CDR and stays open while it is one of the
 * newest `keepOpen` days, so that the handles of a long-running switch do not grow with the calendar.
 */
import { closeDayFiles, type DayFiles } from './day-files.js';

export class OpenDays {
  private readonly days = new Map<string, DayFiles>();

  constructor(
    private readonly openDay: (day: string) => Promise<DayFiles>,
    private readonly keepOpen: number,
  ) {}

  async get(day: string): Promise<DayFiles> {
    const known = this.days.get(day);
    if (known) return known;
    const d = await this.openDay(day);
    this.days.set(day, d);
    return d;
  }

  /** The day is opened (and rescanned) again on its next CDR. */
  async close(d: DayFiles): Promise<void> {
    this.days.delete(d.day);
    await closeDayFiles(d);
  }

  async closeAllButNewest(): Promise<void> {
    const stale = [...this.days.keys()].sort().slice(0, -this.keepOpen);
    await Promise.all(stale.map((day) => this.close(this.days.get(day)!)));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.days.values()].map((d) => this.close(d)));
  }

  values(): IterableIterator<DayFiles> {
    return this.days.values();
  }
}
