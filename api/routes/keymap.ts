import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS, actorOf } from '../auth';
import type { Defaulted } from '../schemas/bounds';
import { KeymapNodesSchema, KeymapQuerySchema, KeymapSchema, SyncResultSchema, type KeymapQuery } from '../schemas/keymap';
import type { KeymapService } from '../services/keymap';
import { routesOf } from './route-options';

const route = routesOf('keymap');

export function keymapRoutes(app: FastifyInstance, keymap: KeymapService): void {
  app.get<{ Querystring: Defaulted<KeymapQuery, 'limit' | 'offset'> }>('/keymap', {
    ...route(
      READERS,
      'The cluster key map (PostgreSQL is its source of truth): per key and version the state, fingerprint, holding nodes, prediction, entropy provenance, lineage and deadlines; the epoch and digest of the whole map',
      { querystring: KeymapQuerySchema, response: { 200: KeymapSchema } },
    ),
    handler: async (request) => keymap.keymap(request.query),
  });

  app.get('/keymap/nodes', {
    ...route(READERS, 'Each node against the map: the epoch and digest it acknowledged, drift found, staleness, snapshot check, entropy health', {
      response: { 200: KeymapNodesSchema },
    }),
    handler: async () => keymap.nodes(),
  });

  app.post('/keymap/sync', {
    ...route(OPERATORS, 'Run a key map sync now and answer with its result (waits for a sync already running to finish first)', { response: { 200: SyncResultSchema } }),
    handler: async (request) => keymap.sync(actorOf(request)),
  });
}
