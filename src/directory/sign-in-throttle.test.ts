import { describe, expect, it } from 'vitest';
import { createSignInThrottle } from './sign-in-throttle.js';

describe('sign-in throttle', () => {
  const limits = { windowMs: 60_000, perAccount: 3, perAddress: 5 };

  it('blocks an account after too many failures from one address, until the window passes', () => {
    const throttle = createSignInThrottle(limits);
    for (let i = 0; i < 3; i++) throttle.recordAttempt('10.0.0.1', 'jane@contoso.com', 1000 + i);
    expect(throttle.retryAfter('10.0.0.1', 'JANE@contoso.com', 2000)).toBe(59_000);
    expect(throttle.retryAfter('10.0.0.2', 'jane@contoso.com', 2000)).toBe(0);
    expect(throttle.retryAfter('10.0.0.1', 'lee@contoso.com', 2000)).toBe(0);
    expect(throttle.retryAfter('10.0.0.1', 'jane@contoso.com', 61_001)).toBe(0);
  });

  it('blocks an address that guesses across many accounts', () => {
    const throttle = createSignInThrottle(limits);
    for (let i = 0; i < 5; i++) throttle.recordAttempt('10.0.0.1', `user${i}@contoso.com`, 1000);
    expect(throttle.retryAfter('10.0.0.1', 'someone@contoso.com', 1000)).toBe(60_000);
  });

  it('never locks the owner out because others guessed from elsewhere', () => {
    const throttle = createSignInThrottle(limits);
    for (let i = 0; i < 50; i++) throttle.recordAttempt(`10.0.${i}.1`, 'jane@contoso.com', 1000);
    expect(throttle.retryAfter('10.9.9.9', 'jane@contoso.com', 1000)).toBe(0);
  });

  it('does not count attempts that succeeded', () => {
    const throttle = createSignInThrottle(limits);
    for (let i = 0; i < 10; i++) {
      throttle.recordAttempt('10.0.0.1', 'jane@contoso.com', 1000);
      throttle.forgive('10.0.0.1', 'jane@contoso.com', 1000);
    }
    expect(throttle.retryAfter('10.0.0.1', 'jane@contoso.com', 1000)).toBe(0);
  });
});
