// A daemon: MSAL Node gets an app-only token with a certificate (or a secret), then Microsoft's
// Graph SDK reads a user's photo. Written as for Microsoft 365; pointed at photosync by the
// authority and the Graph URL only.
//
//   AUTHORITY=https://localhost:8443/<tenant id>  GRAPH_URL=https://localhost:8443/
//   CLIENT_ID=…  CLIENT_CERTIFICATE=cert.pem  CLIENT_KEY=key.pem  (or CLIENT_SECRET=…)  USER=jane@contoso.com
//   node examples/msal-client-credentials-certificate/index.mjs
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { Client, ResponseType } from '@microsoft/microsoft-graph-client';

const env = process.env;
const graphUrl = env.GRAPH_URL ?? 'https://graph.microsoft.com/';
const certificate = env.CLIENT_CERTIFICATE && fs.readFileSync(env.CLIENT_CERTIFICATE, 'utf8');

const msal = new ConfidentialClientApplication({
  auth: {
    clientId: env.CLIENT_ID,
    authority: env.AUTHORITY,
    knownAuthorities: [new URL(env.AUTHORITY).host],
    ...(certificate
      ? {
          clientCertificate: {
            thumbprintSha256: new X509Certificate(certificate).fingerprint256.replaceAll(':', ''),
            privateKey: fs.readFileSync(env.CLIENT_KEY, 'utf8'),
            x5c: certificate,
          },
        }
      : { clientSecret: env.CLIENT_SECRET }),
  },
});
const { accessToken } = await msal.acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });

const graph = Client.init({
  baseUrl: graphUrl,
  customHosts: new Set([new URL(graphUrl).hostname]),
  authProvider: (done) => done(null, accessToken),
});
const photo = await graph.api(`/users/${env.USER}/photo/$value`).responseType(ResponseType.ARRAYBUFFER).get();
fs.writeFileSync(env.OUT ?? 'photo.jpg', Buffer.from(photo));
console.log(`${env.USER}: ${photo.byteLength} bytes of photo written to ${env.OUT ?? 'photo.jpg'}`);
