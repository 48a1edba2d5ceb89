import net from 'node:net';
import autocannon from 'autocannon';

// One load tool for every server compared (autocannon, same connections, same duration).

export const CONNECTIONS = 10;

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Responses with another status than expected, plus socket errors and timeouts. */
  unexpected: number;
  /** Requests answered in all. */
  total: number;
}

export async function load(
  url: string,
  options: {
    headers?: Record<string, string>;
    seconds: number;
    expectStatus: number;
    /** Rewrites each request's path, e.g. to spread it over many users. */
    nextPath?: () => string;
  },
): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: options.seconds,
    headers: options.headers ?? {},
    ...(options.nextPath
      ? { requests: [{ setupRequest: (request) => ({ ...request, path: options.nextPath!() }) }] }
      : {}),
  });
  const byClass = [result['1xx'], result['2xx'], result['3xx'], result['4xx'], result['5xx']];
  const expectedClass = Math.floor(options.expectStatus / 100) - 1;
  const unexpected =
    result.errors + result.timeouts + byClass.reduce((n, count, i) => (i === expectedClass ? n : n + count), 0);
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    unexpected,
    total: result.requests.total,
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
