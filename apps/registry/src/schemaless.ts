import type { FastifyServerOptions } from 'fastify';

const refuse = () => () => {
  throw new Error('route schemas are not used here: requests are validated with zod where they arrive');
};

/**
 * No route here declares a JSON schema (requests are checked with zod at the edge), so fastify gets compilers
 * that refuse one instead of building ajv's and fast-json-stringify's: those two load about a hundred modules,
 * some 40 ms of every start.
 */
export const NO_ROUTE_SCHEMAS: FastifyServerOptions['schemaController'] = {
  compilersFactory: { buildValidator: refuse, buildSerializer: refuse },
};
