/**
 * Counts failed sign-ins in a sliding window, per address and per address+account, so a guesser
 * is slowed down while an office behind one address can still sign in. Successful sign-ins are
 * never counted. Memory only: each instance keeps its own counts.
 */
export function createSignInThrottle(options: { windowMs: number; perAccount: number; perAddress: number }) {
  const failures = new Map<string, number[]>();

  const recent = (key: string, now: number): number[] => {
    const times = (failures.get(key) ?? []).filter((t) => now - t < options.windowMs);
    if (times.length === 0) failures.delete(key);
    else failures.set(key, times);
    return times;
  };
  const keys = (address: string, upn: string) => [`a:${address}`, `u:${address}:${upn.trim().toLowerCase()}`] as const;

  return {
    /** Milliseconds until another attempt is allowed; 0 when it is allowed now. */
    retryAfter(address: string, upn: string, now = Date.now()): number {
      const [byAddress, byAccount] = keys(address, upn);
      const waits = [
        [recent(byAddress, now), options.perAddress],
        [recent(byAccount, now), options.perAccount],
      ] as const;
      let wait = 0;
      for (const [times, limit] of waits) {
        const oldest = times[times.length - limit];
        if (times.length >= limit && oldest !== undefined) wait = Math.max(wait, oldest + options.windowMs - now);
      }
      return wait;
    },
    recordFailure(address: string, upn: string, now = Date.now()): void {
      for (const key of keys(address, upn)) failures.set(key, [...recent(key, now), now]);
    },
  };
}
