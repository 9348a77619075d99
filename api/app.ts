import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../adapters/postgres/database';
import type { KeyrotorConfig } from '../domain/config';
import { installAuth } from './auth';
import { frameworkErrorProblem, installErrorHandler } from './errors';
import { requestLogSerializer } from './request-log';
import { alertRoutes } from './routes/alerts';
import { auditRoutes } from './routes/audit';
import { dashboardRoutes } from './routes/dashboard';
import { entropyRoutes } from './routes/entropy';
import { envelopeRoutes } from './routes/envelope';
import { healthRoutes } from './routes/health';
import { infoRoutes } from './routes/info';
import { jwksRoutes } from './routes/jwks';
import { keyRiskRoutes } from './routes/key-risk';
import { keyUsageRoutes } from './routes/key-usage';
import { keyRoutes } from './routes/keys';
import { keymapRoutes } from './routes/keymap';
import { metricsRoutes } from './routes/metrics';
import { modelRoutes } from './routes/models';
import { riskTrendsRoutes } from './routes/risk-trends';
import { subscriptionRoutes } from './routes/subscriptions';
import { threatIntelRoutes } from './routes/threat-intel';
import { tokenRoutes } from './routes/tokens';
import { usageRoutes } from './routes/usage';
import { whoamiRoutes } from './routes/whoami';
import { installWellFormedCheck } from './well-formed';
import { problemSchema } from './schemas/problem';
import { AlertService } from './services/alerts';
import { AuditService } from './services/audit';
import { EntropyService } from './services/entropy';
import { EnvelopeService } from './services/envelope';
import { HealthService } from './services/health';
import { InfoService } from './services/info';
import { KeyService } from './services/keys';
import { KeymapService } from './services/keymap';
import { ForecastModelService } from './services/models';
import { PublicKeyService } from './services/public-keys';
import { processSetting } from '../adapters/config-loader';
import { SubscriptionService } from './services/subscriptions';
import { ThreatIntelService } from './services/threat-intel';
import { TokenService } from './services/tokens';
import { UsageService } from './services/usage';

export interface ApiDependencies {
  config: KeyrotorConfig;
  db: Database;
  temporal: Client;
}

/**
 * Request log lines carry method, path (the query's values redacted) and status; headers, Authorization among them,
 * never reach a log, and neither do fields named like secrets in anything logged beside them.
 */
export const loggerOptions = {
  level: processSetting('logLevel'),
  serializers: { req: requestLogSerializer },
  redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.token', '*.pin', '*.secret', '*.password', '*.authorization'], censor: '[redacted]' },
} satisfies FastifyServerOptions['logger'];

const AJV_OPTIONS = { removeAdditional: false, useDefaults: true, allErrors: true } as const;

/**
 * Query strings and path parameters arrive as text, so they are coerced to the types their schemas name. JSON bodies
 * carry their own types and are taken as sent: `{"name": false}` is not the name "false".
 */
function validatorFactory(): ValidatorFactory {
  const fromPool = AjvCompiler();
  return (externalSchemas) => {
    const coercing = fromPool(externalSchemas, { customOptions: { ...AJV_OPTIONS, coerceTypes: 'array' } });
    const exact = fromPool(externalSchemas, { customOptions: { ...AJV_OPTIONS, coerceTypes: false } });
    return (route) => (route.httpPart === 'body' ? exact(route) : coercing(route));
  };
}

/** Builds the API as a plugin-style app; tests call `inject` on it without opening a port. */
export async function buildApp(deps: ApiDependencies, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? loggerOptions,
    genReqId: () => crypto.randomUUID(),
    bodyLimit: 8 * 1024 * 1024,
    // Longer than any parameter a route takes, so that the route's schema refuses an overlong one and names it.
    routerOptions: { maxParamLength: 1000 },
    frameworkErrors: frameworkErrorProblem,
    schemaController: { compilersFactory: { buildValidator: validatorFactory() } },
  });
  app.addSchema(problemSchema);

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyrotor_api_' });
  const requestDuration = new Histogram({
    name: 'keyrotor_api_request_duration_seconds',
    help: 'API request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    requestDuration.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'keyrotor API', version: '0.1.0', description: 'Predictive key rotation and measured entropy for HSM clusters' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token (roles admin, operator, auditor, encrypter, decrypter)' } } },
    },
    // Shared schemas keep their own names in the document (components/schemas/Problem), not def-0.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  installErrorHandler(app);
  installAuth(app, deps.db);
  installWellFormedCheck(app);

  /** The data classes of prediction.sensitivityWeights: a key's policy and a usage event name one. */
  const dataClasses = Object.keys(deps.config.prediction.sensitivityWeights);
  const health = new HealthService(deps.db, deps.temporal, deps.config.hsm.nodes.map((node) => node.id), deps.config.hsm.pingTimeoutMs, deps.config.temporal.controlTaskQueue, deps.config.entropy.harvestIntervalSeconds);
  healthRoutes(app, health);
  metricsRoutes(app, registry);
  auditRoutes(app, new AuditService(deps.db));
  alertRoutes(app, new AlertService(deps.db, deps.config.alerts.webhooks.map((hook) => hook.id)));
  tokenRoutes(app, new TokenService(deps.db));
  // An Update call that Temporal ended without its outcome is made again under the same id (adapters/temporal/updates.ts):
  // under load that is where a rotation's answer waits, so each one is logged and counted.
  const undecidedUpdateCalls = new Counter({
    name: 'keyrotor_api_update_calls_retried_total',
    help: 'Update calls of a key workflow that ended without the outcome and were made again under the same Update id, by Update',
    labelNames: ['update'],
    registers: [registry],
  });
  const keys = new KeyService(deps.db, deps.temporal, dataClasses, deps.config.temporal.controlTaskQueue, deps.config.usage.rawRetentionMs, (call) => {
    undecidedUpdateCalls.inc({ update: call.update });
    app.log.warn({ update: call.update, workflowId: call.workflowId, updateId: call.updateId, calls: call.calls, undecidedMs: call.undecidedMs, nextCallInMs: call.pauseMs, reason: call.reason }, 'an Update call ended without its outcome; asking again under the same Update id');
  });
  keyRoutes(app, keys);
  keyUsageRoutes(app, keys);
  keyRiskRoutes(app, keys);
  riskTrendsRoutes(app, keys);
  modelRoutes(app, new ForecastModelService(deps.db, deps.temporal, deps.config.temporal.controlTaskQueue));
  jwksRoutes(app, new PublicKeyService(deps.db));
  envelopeRoutes(app, new EnvelopeService(deps.db, deps.temporal, deps.config.temporal.controlTaskQueue, deps.config.hsm.nodes.map((node) => node.id)));
  subscriptionRoutes(app, new SubscriptionService(deps.db, { allowedTargets: deps.config.webhooks.allowedTargets }));
  entropyRoutes(app, new EntropyService(deps.db));
  usageRoutes(app, new UsageService(deps.db, dataClasses));
  threatIntelRoutes(app, new ThreatIntelService(deps.db, deps.temporal, deps.config.threatIntel.feedUrl !== undefined));
  keymapRoutes(app, new KeymapService(deps.db, deps.temporal, deps.config));
  whoamiRoutes(app);
  infoRoutes(app, new InfoService(deps.config));
  dashboardRoutes(app);

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  return app;
}
