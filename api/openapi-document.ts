import { parseConfig } from '../domain/config';
import { projectRoot } from '../scripts/tool-paths';
import { buildApp } from './app';

/** The parts of an OpenAPI document the dashboard's type generator reads. */
export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
  components?: { schemas?: Record<string, unknown> };
}

/**
 * The OpenAPI document as the routes' schemas define it, made without PostgreSQL or Temporal: building the app only
 * registers routes, and nothing here may reach the services behind them. The default configuration stands in; the
 * routes' schemas do not depend on it.
 */
export async function openApiDocument(): Promise<OpenApiDocument> {
  const config = parseConfig({ env: {}, file: undefined, projectRoot, softHsmModule: 'libsofthsm2.so' });
  const absent = new Proxy({}, {
    get: (_target, property) => {
      throw new Error(`the OpenAPI document is made without PostgreSQL or Temporal, yet building the app read .${String(property)} of one`);
    },
  }) as never;
  const app = await buildApp({ config, db: absent, temporal: absent }, { logger: false });
  try {
    await app.ready();
    return app.swagger() as unknown as OpenApiDocument;
  } finally {
    await app.close();
  }
}
