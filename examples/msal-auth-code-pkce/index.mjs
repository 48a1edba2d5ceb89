// A web app: MSAL Node signs the user in with the authorization code flow and PKCE, then
// Microsoft's Graph SDK reads the signed-in user's own photo (/me/photo/$value). Written as for
// Microsoft 365; pointed at photosync by the authority and the Graph URL only.
//
//   AUTHORITY=https://localhost:8443/<tenant id>  GRAPH_URL=https://localhost:8443/
//   CLIENT_ID=…  CLIENT_SECRET=…  PORT=3000   (the app is registered with --redirect-uri http://localhost:3000/redirect)
//   node examples/msal-auth-code-pkce/index.mjs, then open http://localhost:3000/
import http from 'node:http';
import { ConfidentialClientApplication, CryptoProvider } from '@azure/msal-node';
import { Client, ResponseType } from '@microsoft/microsoft-graph-client';

const env = process.env;
const graphUrl = env.GRAPH_URL ?? 'https://graph.microsoft.com/';
const redirectUri = `http://localhost:${env.PORT ?? 3000}/redirect`;
const scopes = ['User.Read'];

const msal = new ConfidentialClientApplication({
  auth: {
    clientId: env.CLIENT_ID,
    authority: env.AUTHORITY,
    knownAuthorities: [new URL(env.AUTHORITY).host],
    clientSecret: env.CLIENT_SECRET,
  },
});
const crypto = new CryptoProvider();
const { verifier, challenge } = await crypto.generatePkceCodes();
const state = crypto.createNewGuid();
const signInUrl = await msal.getAuthCodeUrl({
  scopes,
  redirectUri,
  codeChallenge: challenge,
  codeChallengeMethod: 'S256',
  state,
});

const server = http.createServer(async (request, response) => {
  const url = new URL(request.url, redirectUri);
  if (url.pathname !== '/redirect') return response.writeHead(302, { location: signInUrl }).end();
  try {
    const answer = { code: url.searchParams.get('code'), state: url.searchParams.get('state') };
    const result = await msal.acquireTokenByCode(
      { code: answer.code, scopes, redirectUri, codeVerifier: verifier, state },
      answer,
    );
    const graph = Client.init({
      baseUrl: graphUrl,
      customHosts: new Set([new URL(graphUrl).hostname]),
      authProvider: (done) => done(null, result.accessToken),
    });
    const photo = await graph.api('/me/photo/$value').responseType(ResponseType.ARRAYBUFFER).get();
    const text = `Signed in as ${result.account.username}; your photo is ${photo.byteLength} bytes.`;
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    console.log(text);
  } catch (error) {
    response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(String(error));
    console.error(String(error));
    process.exitCode = 1;
  }
  server.close();
});
server.listen(Number(env.PORT ?? 3000), 'localhost', () =>
  console.log(`Open http://localhost:${env.PORT ?? 3000}/ to sign in.`),
);
