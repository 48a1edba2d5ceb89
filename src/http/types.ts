import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';

// The app's type, apart from the factory that builds it, so the roles' routes can name it without
// importing the assembly that imports them.

/** The Fastify instance every role registers its routes on. */
export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers with a picture: it gets the picture's security headers, not a page's. */
    picture?: boolean;
  }
}
