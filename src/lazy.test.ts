import { describe, expect, it } from 'vitest';
import { lazy } from './lazy.js';

describe('lazy', () => {
  it('makes the value once for callers at the same time and after', async () => {
    let made = 0;
    const value = lazy(async () => ++made);
    expect(await Promise.all([value(), value(), value()])).toEqual([1, 1, 1]);
    expect(await value()).toBe(1);
  });

  it('forgets a failure, thrown or rejected, so the next call tries again', async () => {
    let calls = 0;
    const value = lazy(() => {
      calls++;
      if (calls === 1) throw new Error('first');
      if (calls === 2) return Promise.reject(new Error('second'));
      return Promise.resolve('third');
    });
    const [a, b] = await Promise.allSettled([value(), value()]);
    expect(a).toMatchObject({ status: 'rejected', reason: { message: 'first' } });
    expect(b).toMatchObject({ status: 'rejected', reason: { message: 'first' } });
    await expect(value()).rejects.toThrow('second');
    expect(await value()).toBe('third');
    expect(calls).toBe(3);
  });
});
