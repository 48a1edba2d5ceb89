// @ts-check
// Loaded with `node --import`: importing any package named in REFUSE_MODULES (comma-separated)
// fails, so a test can show which commands never load them.
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url, { data: process.env.REFUSE_MODULES ?? '' });

/** @type {string[]} */
let refused = [];

/** @param {string} data */
export function initialize(data) {
  refused = data.split(',').filter(Boolean);
}

/**
 * @param {string} specifier
 * @param {object} context
 * @param {(specifier: string, context: object) => Promise<{ url: string }>} next
 */
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  const hit = refused.find((name) => result.url.includes(`/node_modules/${name}/`));
  if (hit) throw new Error(`refused to load ${hit} (imported as "${specifier}")`);
  return result;
}
