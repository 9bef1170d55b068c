/** One operation waiting for its deadline. Set `done` when it settles. */
export interface Pending {
  readonly deadline: number;
  done: boolean;
  readonly expire: () => void;
}

/**
 * Deadlines of in-flight operations that all share one timeout, with one timer for the
 * whole store instead of a `setTimeout` per operation (which costs a few microseconds of
 * CPU on every statement). Because every operation waits the same `ms`, deadlines arrive
 * in start order: a FIFO whose head is the next to expire. Settled operations are
 * dropped from the head as new ones arrive, so the queue holds about as many entries as
 * there are operations in flight. The timer is unref'd: it never keeps a process alive.
 */
export class Deadlines {
  private items: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  /** Registers an operation; `expire` runs once if it is still not done after `ms`. */
  add(expire: () => void): Pending {
    const now = performance.now();
    const entry: Pending = { deadline: now + this.ms, done: false, expire };
    this.dropSettled();
    this.items.push(entry);
    if (this.timer === undefined) this.arm(this.ms);
    return entry;
  }

  private dropSettled(): void {
    const items = this.items;
    while (this.head < items.length && (items[this.head] as Pending).done) this.head++;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.tick, Math.max(1, Math.ceil(delay)));
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const now = performance.now();
    while (this.head < this.items.length) {
      const entry = this.items[this.head] as Pending;
      if (!entry.done) {
        if (entry.deadline > now) break;
        entry.done = true;
        entry.expire();
      }
      this.head++;
    }
    this.dropSettled();
    const next = this.items[this.head];
    if (next !== undefined) this.arm(next.deadline - now);
  };
}
