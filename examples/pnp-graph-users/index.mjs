// PnPjs (@pnp/graph): the first users of the directory, then several photos in one batch.
// Written as for Microsoft 365; pointed at photosync by the Graph URL only.
//
//   GRAPH_URL=https://localhost:8443/v1.0  ACCESS_TOKEN=…  node examples/pnp-graph-users/index.mjs
import { graphfi, GraphBrowser } from '@pnp/graph';
import '@pnp/graph/users/index.js';
import '@pnp/graph/photos/index.js';
import '@pnp/graph/batching.js';
import { InjectHeaders } from '@pnp/queryable';

const env = process.env;
const graph = graphfi().using(
  GraphBrowser({ baseUrl: env.GRAPH_URL ?? 'https://graph.microsoft.com/v1.0' }),
  InjectHeaders({ Authorization: `Bearer ${env.ACCESS_TOKEN}` }),
);

const users = await graph.users.select('displayName', 'userPrincipalName').top(10)();
for (const user of users) console.log(`${user.displayName} <${user.userPrincipalName}>`);

// One request for everyone's photo metadata (Graph's JSON batching, up to 20 a request).
const [batched, execute] = graph.batched();
const photos = users.map((user) =>
  batched.users
    .getById(user.userPrincipalName)
    .photo()
    .then(
      (photo) => `${photo.width}x${photo.height}`,
      () => 'no photo',
    ),
);
await execute();
const sizes = await Promise.all(photos);
users.forEach((user, i) => console.log(`${user.userPrincipalName}: ${sizes[i]}`));
