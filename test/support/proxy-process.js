// A small HTTP proxy process, as an organisation's outbound proxy is to photosync: it forwards
// absolute-URI requests (GET http://host/path) and opens CONNECT tunnels (what every https request
// through a proxy is), and counts what went through it. Its own settings come from the environment:
//   PORT            where it listens (127.0.0.1)
//   PROXY_USER, PROXY_PASSWORD   when set, Proxy-Authorization: Basic must carry them, or it answers 407
//   PROXY_DENY      hosts (comma-separated) it refuses to connect to, with 403
//   PROXY_STALL     when 1, it takes every tunnel's and request's connection and never answers (counted as stalled)
// A request for its own /counts (origin form, not through it) answers what it counted as JSON:
//   { tunnels, requests, stalled, refused: { "407": n, "403": n }, targets: { "host:port": n } }
import http from 'node:http';
import net from 'node:net';

const user = process.env.PROXY_USER ?? '';
const password = process.env.PROXY_PASSWORD ?? '';
const deny = new Set((process.env.PROXY_DENY ?? '').split(',').filter(Boolean));
const stall = process.env.PROXY_STALL === '1';
/** Tunnels and stalled requests' sockets, which stopping closes. */
const held = new Set();
const counts = { tunnels: 0, requests: 0, stalled: 0, refused: { 407: 0, 403: 0 }, targets: {} };

/** Whether the request carries the credentials this proxy asks for (any request, when it asks for none). */
function authorized(request) {
  if (!user) return true;
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return request.headers['proxy-authorization'] === expected;
}

/** Why the proxy refuses to carry a request to `host`, as its status, or undefined. */
function refusal(request, host) {
  if (!authorized(request)) return 407;
  if (deny.has(host)) return 403;
  return undefined;
}

const REFUSED = {
  407: 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test proxy"\r\n',
  403: 'HTTP/1.1 403 Forbidden\r\n',
};

function counted(target) {
  counts.targets[target] = (counts.targets[target] ?? 0) + 1;
}

const server = http.createServer((request, response) => {
  if (!/^https?:\/\//i.test(request.url ?? '')) {
    if (request.url === '/counts') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
    } else {
      response.writeHead(404).end();
    }
    return;
  }
  if (stall) {
    counts.stalled += 1;
    held.add(request.socket);
    return;
  }
  const target = new URL(request.url);
  const refused = refusal(request, target.hostname);
  if (refused) {
    counts.refused[refused] += 1;
    const headers = refused === 407 ? { 'proxy-authenticate': 'Basic realm="test proxy"' } : {};
    response.writeHead(refused, { ...headers, 'content-length': '0' }).end();
    return;
  }
  counts.requests += 1;
  counted(target.host);
  const headers = { ...request.headers };
  delete headers['proxy-authorization'];
  delete headers['proxy-connection'];
  const upstream = http.request(target, { method: request.method, headers }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(response);
  });
  upstream.on('error', () => response.writeHead(502, { 'content-length': '0' }).end());
  request.pipe(upstream);
});

server.on('connect', (request, socket, head) => {
  socket.on('error', () => {});
  // A tunnel is no longer the HTTP server's connection: closed here when the proxy stops.
  held.add(socket);
  socket.on('close', () => held.delete(socket));
  if (stall) {
    counts.stalled += 1;
    return;
  }
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(request.url ?? '');
  if (!match) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const [, host, port] = match;
  const refused = refusal(request, host);
  if (refused) {
    counts.refused[refused] += 1;
    socket.end(`${REFUSED[refused]}Content-Length: 0\r\n\r\n`);
    return;
  }
  const upstream = net.connect(Number(port), host, () => {
    counts.tunnels += 1;
    counted(`${host}:${port}`);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  upstream.on('error', () => {
    if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
  });
  socket.on('close', () => upstream.destroy());
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});
process.on('SIGTERM', () => {
  for (const socket of held) socket.destroy();
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
