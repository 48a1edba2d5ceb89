import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkIdToken, type IdTokenExpectations } from './sign-in.js';

// The ID token of a Microsoft 365 sign-in is taken only when the tenant's key signed it, for this
// app, from this tenant, for this sign-in (nonce), and still valid.

const ISSUER = 'https://login.microsoftonline.com/0a1b2c3d-0000-4000-8000-000000000001/v2.0';
const CLIENT_ID = '6731de76-14a6-49ae-97bc-6eba6914391e';
const NONCE = 'a-nonce-of-this-sign-in';

describe('checkIdToken', () => {
  let sign: (claims: JWTPayload, options?: { key?: CryptoKey; expiresIn?: string }) => Promise<string>;
  let expected: IdTokenExpectations;
  let otherKey: CryptoKey;

  beforeAll(async () => {
    const tenantKey = await generateKeyPair('RS256');
    otherKey = (await generateKeyPair('RS256')).privateKey;
    const jwk = { ...(await exportJWK(tenantKey.publicKey)), kid: 'k1', alg: 'RS256' };
    expected = { issuer: ISSUER, keys: createLocalJWKSet({ keys: [jwk] }), clientId: CLIENT_ID, nonce: NONCE };
    sign = (claims, options = {}) =>
      new SignJWT({
        oid: 'F0E1D2C3-0000-4000-8000-00000000000A',
        preferred_username: 'Jane@Contoso.com',
        name: 'Jane Doe',
        nonce: NONCE,
        iss: ISSUER,
        aud: CLIENT_ID,
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '1h')
        .sign(options.key ?? tenantKey.privateKey);
  });

  it('takes a token of this tenant, for this app and this sign-in, and names its user', async () => {
    expect(await checkIdToken(await sign({}), expected)).toEqual({
      ok: true,
      user: { id: 'f0e1d2c3-0000-4000-8000-00000000000a', upn: 'jane@contoso.com', displayName: 'Jane Doe' },
    });
  });

  it('names the user by the optional upn claim when the token has it (preferred_username may be an e-mail address)', async () => {
    const result = await checkIdToken(await sign({ upn: 'JDoe@contoso.com' }), expected);
    expect(result).toMatchObject({ ok: true, user: { upn: 'jdoe@contoso.com' } });
  });

  it.each([
    ['another tenant', { iss: 'https://login.microsoftonline.com/another/v2.0' }, /iss/],
    ['another app', { aud: '00000000-0000-0000-0000-000000000000' }, /aud/],
    ['another sign-in', { nonce: 'someone-elses' }, /nonce/],
    ['no user', { oid: undefined }, /oid/],
  ])('refuses a token of %s', async (_name, claims, reason) => {
    const result = await checkIdToken(await sign(claims), expected);
    expect(result).toMatchObject({ ok: false, problem: 'invalid' });
    if (!result.ok) expect(result.detail).toMatch(reason);
  });

  it('refuses a token signed by another key, and one that has expired', async () => {
    expect(await checkIdToken(await sign({}, { key: otherKey }), expected)).toMatchObject({
      ok: false,
      problem: 'invalid',
    });
    const expired = await sign({}, { expiresIn: '-1h' });
    expect(await checkIdToken(expired, expected)).toMatchObject({ ok: false, problem: 'invalid' });
    expect(await checkIdToken('not.a.token', expected)).toMatchObject({ ok: false, problem: 'invalid' });
  });
});
