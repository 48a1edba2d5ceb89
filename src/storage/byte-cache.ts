/**
 * A small LRU of immutable bytes by key. Photo blob keys are never rewritten with other bytes, so
 * a cached entry can never be stale; the cache only saves reads.
 */
export type ByteCache = ReturnType<typeof createByteCache>;

export function createByteCache(maxBytes: number) {
  const entries = new Map<string, Buffer>();
  let total = 0;
  return {
    get(key: string): Buffer | undefined {
      const bytes = entries.get(key);
      if (bytes) {
        entries.delete(key);
        entries.set(key, bytes);
      }
      return bytes;
    },
    set(key: string, bytes: Buffer): void {
      if (bytes.length > maxBytes || entries.has(key)) return;
      entries.set(key, bytes);
      total += bytes.length;
      for (const [oldest, old] of entries) {
        if (total <= maxBytes) break;
        entries.delete(oldest);
        total -= old.length;
      }
    },
  };
}
