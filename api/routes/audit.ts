import type { FastifyInstance } from 'fastify';
import { anchorEvidence, listAnchorRecords } from '../../adapters/postgres/audit-anchor-repository';
import { listAudit, verifyAudit } from '../../adapters/postgres/audit-repository';
import type { Database } from '../../adapters/postgres/database';
import { AUDITORS } from '../auth';
import { limitSchema, sequenceSchema, textFilterSchema } from '../schemas/bounds';
import { authErrors } from '../schemas/problem';

const entrySchema = {
  type: 'object',
  required: ['seq', 'at', 'actor', 'action', 'subject', 'details', 'prevHash', 'hash'],
  properties: {
    seq: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string' },
    action: { type: 'string' },
    subject: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;

export function auditRoutes(app: FastifyInstance, db: Database): void {
  app.get<{ Querystring: { afterSeq?: number; limit?: number; subject?: string; action?: string } }>('/audit', {
    config: { roles: AUDITORS },
    schema: {
      tags: ['audit'],
      summary: 'Audit entries in sequence order, a page at a time (pass the last seq as afterSeq for the next page)',
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          afterSeq: sequenceSchema('only entries after this seq (the last seq of a page, for the next one)'),
          limit: limitSchema(1000, 100),
          subject: textFilterSchema(200, 'only entries about this subject (a key name, threat-intel, …)'),
          action: textFilterSchema(100, 'only entries of this action (key.created, …)'),
        },
      },
      response: { 200: { type: 'object', required: ['entries'], properties: { entries: { type: 'array', items: entrySchema }, nextAfterSeq: { type: 'integer' } } }, ...authErrors },
    },
    handler: async (request) => {
      const limit = request.query.limit ?? 100;
      const entries = await listAudit(db, { ...request.query, limit });
      const last = entries.at(-1);
      return { entries, ...(entries.length === limit && last ? { nextAfterSeq: last.seq } : {}) };
    },
  });

  app.get('/audit/verify', {
    config: { roles: AUDITORS },
    schema: {
      tags: ['audit'],
      summary: 'Recomputes the hash chain of the whole audit log, lists every entry that was modified or removed, and checks it against the anchors the nodes held at the last key map sync',
      security: [{ bearer: [] }],
      response: {
        200: {
          type: 'object',
          required: ['ok', 'entries', 'firstSeq', 'lastSeq', 'headHash', 'problems', 'anchored', 'anchors'],
          properties: {
            ok: { type: 'boolean' },
            entries: { type: 'integer' },
            firstSeq: { type: ['integer', 'null'] },
            lastSeq: { type: ['integer', 'null'] },
            headHash: { type: 'string' },
            problems: {
              type: 'array',
              items: { type: 'object', required: ['seq', 'kind', 'message'], properties: { seq: { type: 'integer' }, kind: { type: 'string', enum: ['modified', 'missing', 'broken-link'] }, message: { type: 'string' } } },
            },
            anchored: {
              type: 'boolean',
              description: 'the chain verifies, at least one node holds an anchor, and every node\'s anchor (as last checked) names an entry the log holds unchanged',
            },
            anchors: {
              type: 'array',
              description: 'each node\'s audit anchor as the last key map sync checked it',
              items: {
                type: 'object',
                required: ['node', 'seq', 'hash', 'checkedAt', 'status'],
                properties: {
                  node: { type: 'string' },
                  seq: { type: ['integer', 'null'] },
                  hash: { type: ['string', 'null'] },
                  checkedAt: { type: 'string', format: 'date-time' },
                  status: { type: 'string', enum: ['valid', 'missing', 'tampered', 'unverifiable', 'ahead-of-database', 'mismatch'] },
                  problem: { type: ['string', 'null'] },
                  writtenAt: { type: ['string', 'null'], format: 'date-time' },
                  matchesLog: { type: 'boolean', description: 'the log holds the anchored entry with this hash now' },
                },
              },
            },
          },
        },
        ...authErrors,
      },
    },
    handler: async () => {
      const [chain, records] = await Promise.all([verifyAudit(db), listAnchorRecords(db)]);
      const evidence = await anchorEvidence(db, records.flatMap((record) => (record.seq === null ? [] : [record.seq])));
      // Checked against the log now as well: entries removed since the last sync show at once, not a minute later.
      const anchors = records.map((record) => ({
        ...record,
        matchesLog: record.seq !== null && evidence.entries.get(record.seq)?.hash === record.hash,
      }));
      const anchored = chain.ok && anchors.length > 0 && anchors.every((anchor) => anchor.status === 'valid' && anchor.matchesLog);
      return { ...chain, anchored, anchors };
    },
  });
}
