// PnPjs (@pnp/sp): an administrator's script that puts a person's picture into the "User Photos"
// library and points their profile at it, as Microsoft's upload sample does, with PnPjs v4's
// path-based file methods. Written as for Microsoft 365; pointed at photosync by the URL only.
//
//   SHAREPOINT_URL=https://localhost:8443  ACCESS_TOKEN=… (an app token with Sites.FullControl.All)
//   UPN=jane@contoso.com  PICTURE=jane.jpg  node examples/pnp-sp-library/index.mjs
import fs from 'node:fs';
import { spfi, SPBrowser } from '@pnp/sp';
import '@pnp/sp/webs/index.js';
import '@pnp/sp/folders/index.js';
import '@pnp/sp/files/index.js';
import '@pnp/sp/profiles/index.js';
import { InjectHeaders } from '@pnp/queryable';

const env = process.env;
const sp = spfi(env.SHAREPOINT_URL ?? 'https://contoso-my.sharepoint.com').using(
  SPBrowser(),
  InjectHeaders({ Authorization: `Bearer ${env.ACCESS_TOKEN}` }),
);

const upn = env.UPN ?? 'jane@contoso.com';
const stem = upn.toLowerCase().replace(/[^a-z0-9_-]/g, '_');
const folder = sp.web.getFolderByServerRelativePath('/User Photos/Profile Pictures');
const bytes = fs.readFileSync(env.PICTURE ?? 'picture.jpg');
for (const size of ['S', 'M', 'L']) {
  const added = await folder.files.addUsingPath(`${stem}_${size}Thumb.jpg`, bytes, { Overwrite: true });
  console.log(`Added ${added.ServerRelativeUrl} (${added.Length} bytes)`);
}
const listed = await folder.files();
console.log(`The folder lists ${listed.length} file(s)`);
const file = sp.web.getFileByServerRelativePath(`/User Photos/Profile Pictures/${stem}_MThumb.jpg`);
const info = await file();
const content = await file.getBuffer();
console.log(`${info.Name}: ${content.byteLength} bytes`);
const account = `i:0#.f|membership|${upn}`;
const pictureUrl = `${env.SHAREPOINT_URL}/User Photos/Profile Pictures/${stem}_MThumb.jpg`;
await sp.profiles.setSingleValueProfileProperty(account, 'PictureURL', pictureUrl);
await sp.profiles.setSingleValueProfileProperty(account, 'SPS-PicturePlaceholderState', '0');
console.log(`PictureURL: ${await sp.profiles.getUserProfilePropertyFor(account, 'PictureURL')}`);
