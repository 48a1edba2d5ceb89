import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LazyChildLogger } from './lazy-logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('LazyChildLogger', () => {
  it('binds the request id to what a request logs, and makes no child for a request that logs nothing', async () => {
    const { lines, logger } = capture();
    let children = 0;
    const child = logger.child.bind(logger);
    logger.child = ((...args: Parameters<typeof logger.child>) => {
      children++;
      return child(...args);
    }) as typeof logger.child;

    const quiet = new LazyChildLogger(logger, { reqId: 'req-1' });
    expect(quiet.level).toBe('info');
    expect(children).toBe(0);

    const talking = new LazyChildLogger(logger, { reqId: 'req-2' });
    talking.error({ err: new Error('boom') }, 'request failed');
    talking.debug('below the level');
    talking.info('done');
    await new Promise((resolve) => setImmediate(resolve));
    expect(children).toBe(1);
    expect(lines.map((l) => [l.reqId, l.msg])).toEqual([
      ['req-2', 'request failed'],
      ['req-2', 'done'],
    ]);
    expect((lines[0]?.err as { message: string }).message).toBe('boom');
  });
});
