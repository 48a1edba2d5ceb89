import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyContextConfig, FastifyInstance, RawServerDefault } from 'fastify';
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

/**
 * The shape a route's errors take: an HTML page in the user's language, Microsoft Graph's
 * `{"error":{code,message,innerError}}`, SharePoint's `odata.error`, Entra's OAuth error, or
 * photosync's own `{"error":{code,message}}`.
 */
export type Envelope = 'page' | 'graph' | 'sharepoint' | 'entra' | 'json';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers with a picture: it gets the picture's security headers, not a page's. */
    picture?: boolean;
    /** The envelope of this route's errors; photosync's JSON when not said. */
    envelope?: Envelope;
  }
}

/**
 * Gives every route registered in this plugin (and the plugins inside it) these config values,
 * unless the route says otherwise: how a whole API answers is declared once, where it is mounted.
 */
export function routeDefaults(app: App, defaults: FastifyContextConfig): void {
  app.addHook('onRoute', (route) => {
    route.config = { ...defaults, ...route.config };
  });
}
