/**
 * Counts failed sign-ins in a sliding window, per address and per address and account. An attempt
 * is counted when it starts (so parallel guesses cannot all slip through while passwords are being
 * checked) and forgiven when it succeeds. There is deliberately no limit per account from every
 * address: anyone could then lock anyone out. Memory only: each instance keeps its own counts.
 */
export interface ThrottleLimits {
  windowMs: number;
  /** Failures from one address for one account. */
  perAccount: number;
  /** Failures from one address over all accounts (password spraying); an office shares it. */
  perAddress: number;
}

export function createSignInThrottle(limits: ThrottleLimits) {
  const failures = new Map<string, number[]>();
  let recorded = 0;

  const recent = (key: string, now: number): number[] => {
    const times = (failures.get(key) ?? []).filter((t) => now - t < limits.windowMs);
    if (times.length === 0) failures.delete(key);
    else failures.set(key, times);
    return times;
  };
  const keyed = (address: string, upn: string) => {
    const account = upn.trim().toLowerCase();
    return [
      [`a:${address}`, limits.perAddress],
      [`au:${address}:${account}`, limits.perAccount],
    ] as const;
  };

  return {
    /** Milliseconds until another attempt is allowed; 0 when it is allowed now. */
    retryAfter(address: string, upn: string, now = Date.now()): number {
      let wait = 0;
      for (const [key, limit] of keyed(address, upn)) {
        const times = recent(key, now);
        const oldest = times[times.length - limit];
        if (times.length >= limit && oldest !== undefined) wait = Math.max(wait, oldest + limits.windowMs - now);
      }
      return wait;
    },
    /** Counts an attempt as failed until `forgive` says it succeeded. */
    recordAttempt(address: string, upn: string, now = Date.now()): void {
      for (const [key] of keyed(address, upn)) failures.set(key, [...recent(key, now), now]);
      // Keys are otherwise only cleaned when looked up again; sweep now and then so guesses at
      // ever new accounts cannot grow the map without end.
      if (++recorded % 1000 === 0) for (const key of [...failures.keys()]) recent(key, now);
    },
    forgive(address: string, upn: string, now = Date.now()): void {
      for (const [key] of keyed(address, upn)) recent(key, now).pop();
    },
  };
}
