// PnPjs (@pnp/sp): your SharePoint profile, then a new profile picture. Written as for
// Microsoft 365; pointed at photosync by the SharePoint URL only.
//
//   SHAREPOINT_URL=https://localhost:8443  ACCESS_TOKEN=…  PICTURE=me.jpg (optional)
//   node examples/pnp-sp-profile/index.mjs
import { Blob } from 'node:buffer';
import fs from 'node:fs';
import { spfi, SPBrowser } from '@pnp/sp';
import '@pnp/sp/profiles/index.js';
import { InjectHeaders } from '@pnp/queryable';

// setMyProfilePic reads the picture with the browser's FileReader, which Node does not have.
globalThis.FileReader ??= class {
  readAsArrayBuffer(blob) {
    blob.arrayBuffer().then((result) => this.onload({ target: { result } }), this.onerror);
  }
};

const env = process.env;
const sp = spfi(env.SHAREPOINT_URL ?? 'https://contoso-my.sharepoint.com').using(
  SPBrowser(),
  InjectHeaders({ Authorization: `Bearer ${env.ACCESS_TOKEN}` }),
);

const me = await sp.profiles.myProperties();
console.log(`${me.DisplayName} (${me.AccountName}): ${me.PictureUrl ?? 'no picture'}`);
if (env.PICTURE) {
  await sp.profiles.setMyProfilePic(new Blob([fs.readFileSync(env.PICTURE)]));
  const after = await sp.profiles.getUserProfilePropertyFor(me.AccountName, 'PictureURL');
  console.log(`New picture: ${after}`);
}
