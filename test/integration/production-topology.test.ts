import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import { startTemporalDevServer, type DevServerHandle } from '../../adapters/temporal/dev-server';
import { projectRoot } from '../../scripts/tool-paths';
import { readSecret } from '../../adapters/secrets';
import { runCli, startLongRunning, type LongRunning } from '../support/cli';
import { eventually } from '../support/eventually';
import { listTokenLabels, listTokenObjects } from '../support/pkcs11-listing';
import { freePort } from '../support/ports';
import { requireEnv, uniqueName } from '../support/system';

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  stop_grace_period?: string;
}

const compose = parse(readFileSync(join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const services = compose.services;
const KEYROTOR_SERVICES = ['provision', 'api', 'worker-control', 'worker-hsm-1', 'worker-hsm-2', 'worker-hsm-3'];

interface Mount {
  /** A named volume, or a path in the project (a bind mount). */
  source: { volume: string } | { path: string };
  target: string;
  readOnly: boolean;
}

function mountsOf(service: string): Mount[] {
  return (services[service]?.volumes ?? []).map((entry) => {
    const [source = '', target = '', mode] = entry.split(':');
    return { source: source.startsWith('.') || source.startsWith('/') ? { path: join(projectRoot, source) } : { volume: source }, target, readOnly: mode === 'ro' };
  });
}

interface DeployNode { id: string; moduleEnv?: Record<string, string>; pin?: { file?: string }; soPin?: { file?: string } }
const deployNodes = (JSON.parse(readFileSync(join(projectRoot, 'deploy', 'keyrotor.config.json'), 'utf8')) as { hsm: { nodes: DeployNode[] } }).hsm.nodes;
/** The node an HSM worker serves, from its command. */
const nodeOfWorker = (service: string): string => services[service]?.command?.at(-1) ?? '';
const HSM_WORKERS = Object.keys(services).filter((name) => services[name]?.command?.slice(0, 2).join(' ') === 'worker hsm');

/** The ENV of the Dockerfile's final stage: what every keyrotor container starts with. */
function imageEnvironment(): Record<string, string> {
  const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, key, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[key as string] = value as string;
  }
  return env;
}

describe('docker-compose.yml describes the production topology', () => {
  it('has every service with its image or build, command, health check and dependencies', () => {
    const summary = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, {
      from: s.build ? `build ${s.build}` : s.image?.split(':')[0],
      command: s.command?.join(' ') ?? null,
      replicas: s.deploy?.replicas ?? 1,
      health: Boolean(s.healthcheck),
      after: Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([dependency, { condition }]) => [dependency, condition])),
    }]));
    const keyrotor = (command: string, replicas = 1, health = false) => ({ from: 'build .', command, replicas, health, after: { provision: 'service_completed_successfully' } });
    expect(summary).toEqual({
      postgres: { from: 'postgres', command: null, replicas: 1, health: true, after: {} },
      'temporal-schema': { from: 'temporalio/admin-tools', command: expect.stringContaining('temporal-sql-tool'), replicas: 1, health: false, after: { postgres: 'service_healthy' } },
      temporal: { from: 'temporalio/server', command: null, replicas: 1, health: true, after: { 'temporal-schema': 'service_completed_successfully' } },
      'temporal-ui': { from: 'temporalio/ui', command: null, replicas: 1, health: false, after: { temporal: 'service_healthy' } },
      provision: { from: 'build .', command: 'provision', replicas: 1, health: false, after: { postgres: 'service_healthy', temporal: 'service_healthy' } },
      api: keyrotor('api', 2, true),
      'worker-control': keyrotor('worker control', 2),
      'worker-hsm-1': keyrotor('worker hsm --node hsm-1'),
      'worker-hsm-2': keyrotor('worker hsm --node hsm-2'),
      'worker-hsm-3': keyrotor('worker hsm --node hsm-3'),
    });
    expect(services['temporal-schema']?.command?.join(' ')).toContain('--db temporal setup-schema');
    // Longer than a worker's shutdown grace time (10 s), so that Docker does not kill it while it cancels its activities.
    for (const name of KEYROTOR_SERVICES) expect({ name, stop: services[name]?.stop_grace_period }).toEqual({ name, stop: '30s' });
    expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres', BIND_ON_IP: '0.0.0.0' });
    expect(services['temporal-ui']?.environment).toEqual({ TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(Object.keys(compose.volumes).sort()).toEqual(['pin-hsm-1', 'pin-hsm-2', 'pin-hsm-3', 'postgres-data', 'so-pins', 'softhsm-hsm-1', 'softhsm-hsm-2', 'softhsm-hsm-3']);
  });

  it('gives each HSM node a token volume and a PIN volume of its own, mounted only into its HSM worker and the provisioning job', () => {
    const config = ['./deploy/keyrotor.config.json:/etc/keyrotor/keyrotor.config.json:ro'];
    const volumes = Object.fromEntries(KEYROTOR_SERVICES.map((name) => [name, services[name]?.volumes]));
    expect(volumes).toEqual({
      provision: [
        ...config, './deploy/softhsm:/etc/keyrotor/softhsm:ro', 'softhsm-hsm-1:/var/lib/softhsm/hsm-1', 'softhsm-hsm-2:/var/lib/softhsm/hsm-2', 'softhsm-hsm-3:/var/lib/softhsm/hsm-3',
        'pin-hsm-1:/var/lib/keyrotor/pins/hsm-1', 'pin-hsm-2:/var/lib/keyrotor/pins/hsm-2', 'pin-hsm-3:/var/lib/keyrotor/pins/hsm-3', 'so-pins:/var/lib/keyrotor/so-pins',
      ],
      // Neither the API nor the control workers see a token or a PIN.
      api: config,
      'worker-control': config,
      ...Object.fromEntries([1, 2, 3].map((n) => [`worker-hsm-${n}`, [...config, `./deploy/softhsm/hsm-${n}.conf:/etc/keyrotor/softhsm/hsm-${n}.conf:ro`, `softhsm-hsm-${n}:/var/lib/softhsm/hsm-${n}`, `pin-hsm-${n}:/var/lib/keyrotor/pins/hsm-${n}:ro`]])),
    });
    const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8');
    const imageNodes = (/^ARG SOFTHSM_NODES="([^"]*)"/m.exec(dockerfile)?.[1] ?? '').split(' ');
    const imageTokenFolders = imageNodes.map((id) => `/var/lib/softhsm/${id}`);
    const imagePinFolders = imageNodes.map((id) => `/var/lib/keyrotor/pins/${id}`);
    const volumeOf = (service: string, path: string): string | undefined => {
      const mount = mountsOf(service).find((candidate) => path === candidate.target || path.startsWith(`${candidate.target}/`));
      return mount && 'volume' in mount.source ? mount.source.volume : undefined;
    };
    const mountedInto = (volume: string): string[] => Object.keys(services).filter((name) => mountsOf(name).some((mount) => 'volume' in mount.source && mount.source.volume === volume));
    // Follow each HSM worker's node from the configuration to its SoftHSM file, and that file to its token folder.
    for (const worker of HSM_WORKERS) {
      const node = deployNodes.find((candidate) => candidate.id === nodeOfWorker(worker));
      const conf = node?.moduleEnv?.SOFTHSM2_CONF ?? '';
      const confMount = mountsOf(worker).find((mount) => mount.target === conf);
      expect({ worker, conf, readOnly: confMount?.readOnly }).toEqual({ worker, conf: `/etc/keyrotor/softhsm/${node?.id}.conf`, readOnly: true });
      const tokenDir = /^directories\.tokendir = (\S+)$/m.exec(readFileSync((confMount?.source as { path: string }).path, 'utf8'))?.[1];
      const tokenMount = mountsOf(worker).find((mount) => mount.target === tokenDir);
      const volume = (tokenMount?.source as { volume: string } | undefined)?.volume ?? '';
      expect({ worker, volume, mountedInto: mountedInto(volume) }).toEqual({ worker, volume: `softhsm-${node?.id}`, mountedInto: ['provision', worker] });
      // A named volume takes its owner from the image's folder: the unprivileged user must own it.
      expect(imageTokenFolders).toContain(tokenDir);
      // The node's user PIN: in a volume of its own that only the provisioning job (which writes it) and this worker
      // (read-only) mount; its SO PIN in a volume that no worker mounts.
      const pinFile = node?.pin?.file ?? '';
      const pinVolume = volumeOf(worker, pinFile) ?? '';
      expect({ worker, pinVolume, mountedInto: mountedInto(pinVolume), readOnly: mountsOf(worker).find((mount) => 'volume' in mount.source && mount.source.volume === pinVolume)?.readOnly })
        .toEqual({ worker, pinVolume: `pin-${node?.id}`, mountedInto: ['provision', worker], readOnly: true });
      expect(volumeOf('provision', pinFile)).toBe(pinVolume);
      expect(imagePinFolders).toContain(dirname(pinFile));
      const soPinVolume = volumeOf('provision', node?.soPin?.file ?? '') ?? '';
      expect({ worker, soPinVolume, mountedInto: mountedInto(soPinVolume) }).toEqual({ worker, soPinVolume: 'so-pins', mountedInto: ['provision'] });
    }
    expect(HSM_WORKERS.map(nodeOfWorker)).toEqual(deployNodes.map((node) => node.id));
  });

  it('gives every keyrotor service its configuration through the environment, and holds no secret itself', () => {
    for (const name of KEYROTOR_SERVICES) {
      const service = services[name] as ComposeService;
      // A node's SoftHSM configuration is its moduleEnv in the configuration file, not the container's environment.
      expect({ name, env: Object.keys(service.environment ?? {}).sort() }).toEqual({
        name,
        env: ['DATABASE_URL', 'KEYROTOR_CONFIG', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', ...(name === 'provision' ? ['KEYROTOR_ADMIN_TOKEN'] : [])].sort(),
      });
    }
    const text = readFileSync(join(projectRoot, 'docker-compose.yml'), 'utf8');
    // Passwords and tokens appear only as required variables, filled from the environment at `docker compose up`.
    const secretSettings = [...text.matchAll(/^\s*\w*(?:PASSWORD|PWD|TOKEN|SECRET)\w*:\s*(\S+)/gm)].map((match) => match[1]);
    expect(secretSettings.length).toBeGreaterThanOrEqual(4);
    for (const value of secretSettings) expect(value).toMatch(/^\$\{[A-Z_]+:\?/);
    expect(text).toMatch(/postgres:\/\/keyrotor:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432\/keyrotor/);
    expect(imageEnvironment()).toEqual({ NODE_ENV: 'production', KEYROTOR_WORKFLOW_BUNDLE: '/app/workflow-bundle.js', KEYROTOR_DATA_DIR: '/var/lib/keyrotor', KEYROTOR_API_HOST: '0.0.0.0' });
  });
});

/**
 * The same topology as processes on this machine: one Temporal dev server, one PostgreSQL, then each keyrotor service
 * with exactly the command, environment and mounts the compose file (and the image's ENV) gives it. Each service gets a
 * folder standing for its container: the image's data folder and workflow bundle, its named volumes as links to one
 * folder per volume (shared by the services that mount it), its bind mounts as copies of the project's files. Container
 * paths — in the environment and inside the mounted files — point into that folder when the service has them mounted,
 * and stay as they are otherwise (so a path the service does not mount does not exist for it). Only what a container
 * would see differently is translated besides: service host names to 127.0.0.1 and their ports, the database name (the
 * PostgreSQL server is the test run's), and each process's own listening ports.
 */
describe('the production topology as separate processes', () => {
  const root = join(requireEnv('KEYROTOR_TEST_RUN_DIR'), uniqueName('topology-'));
  let temporal: DevServerHandle;
  const processes: LongRunning[] = [];

  afterAll(async () => {
    await Promise.all(processes.map((child) => child.stop('SIGTERM', 20_000)));
    await temporal?.stop();
  });

  it("provisions each node's own token volume, runs two APIs, two control workers and three HSM workers, and a rotation survives a control worker stopping", async () => {
    mkdirSync(root, { recursive: true });
    const password = randomBytes(12).toString('hex');
    const adminToken = `kr_${randomBytes(32).toString('base64url')}`;
    // The run's PostgreSQL server, with the compose file's role; the database gets a name of its own on the shared server.
    const server = new URL(requireEnv('KEYROTOR_TEST_DATABASE_URL'));
    const pgPort = Number(server.port);
    const database = uniqueName('topology_');
    const admin = new pg.Client({ connectionString: server.toString() });
    await admin.connect();
    await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'keyrotor') THEN CREATE ROLE keyrotor LOGIN; END IF; END $$`);
    await admin.query(`ALTER ROLE keyrotor PASSWORD '${password}'`);
    await admin.query(`CREATE DATABASE ${database} OWNER keyrotor`);
    await admin.end();
    const temporalPort = await freePort();
    temporal = await startTemporalDevServer({ dataDir: join(root, 'temporal'), port: temporalPort, uiPort: await freePort(), namespace: 'default', log: () => undefined });

    const bundle = join(root, 'workflow-bundle.js');
    expect(runCli(['bundle-workflows', bundle], process.env).code).toBe(0);
    const image = imageEnvironment();
    const volumeFolder = (volume: string): string => join(root, 'volumes', volume);

    /** Builds the folder standing for `service`'s container and returns how its container paths translate. Replicas share it: they write nothing there. */
    const containers = new Map<string, (path: string) => string>();
    const containerOf = (service: string): ((path: string) => string) => {
      const known = containers.get(service);
      if (known) return known;
      const container = join(root, 'containers', service);
      const mounts = mountsOf(service);
      const provided = [image.KEYROTOR_DATA_DIR as string, image.KEYROTOR_WORKFLOW_BUNDLE as string, ...mounts.map((mount) => mount.target)];
      const translate = (path: string): string => (provided.some((prefix) => path === prefix || path.startsWith(`${prefix}/`)) ? join(container, path) : path);
      const translateText = (text: string): string => text.replace(/(?<![\w.])\/[\w.\-/]+/g, translate);
      const at = (path: string): string => {
        mkdirSync(dirname(join(container, path)), { recursive: true });
        return join(container, path);
      };
      mkdirSync(at(image.KEYROTOR_DATA_DIR as string), { recursive: true });
      symlinkSync(bundle, at(image.KEYROTOR_WORKFLOW_BUNDLE as string));
      for (const mount of mounts) {
        if ('volume' in mount.source) {
          mkdirSync(volumeFolder(mount.source.volume), { recursive: true });
          symlinkSync(volumeFolder(mount.source.volume), at(mount.target));
        } else if (statSync(mount.source.path).isDirectory()) {
          mkdirSync(at(mount.target), { recursive: true });
          for (const file of readdirSync(mount.source.path)) writeFileSync(join(at(mount.target), file), translateText(readFileSync(join(mount.source.path, file), 'utf8')));
        } else {
          writeFileSync(at(mount.target), translateText(readFileSync(mount.source.path, 'utf8')));
        }
      }
      containers.set(service, translate);
      return translate;
    };

    const variables: Record<string, string> = { POSTGRES_PASSWORD: password, KEYROTOR_ADMIN_TOKEN: adminToken };
    const environmentOf = async (service: string): Promise<Record<string, string | undefined>> => {
      const translate = containerOf(service);
      const own = Object.fromEntries(Object.entries({ ...image, ...services[service]?.environment }).map(([key, value]) => {
        const filled = value.replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => variables[name] ?? '');
        return [key, translate(filled.replace('@postgres:5432/keyrotor', `@127.0.0.1:${pgPort}/${database}`).replace(/^temporal:7233$/, `127.0.0.1:${temporalPort}`))];
      }));
      return {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...own,
        KEYROTOR_API_HOST: '127.0.0.1',
        KEYROTOR_API_PORT: String(await freePort()),
        KEYROTOR_WORKER_METRICS_PORT: String(await freePort()),
        // A first harvest assesses 1,000,000 samples per source; this test is about the topology, not the estimators.
        KEYROTOR_ENTROPY_ASSESSMENT_SAMPLES: '20000',
      };
    };
    const launch = async (service: string, ready: RegExp): Promise<{ child: LongRunning; env: Record<string, string | undefined> }> => {
      const env = await environmentOf(service);
      const child = startLongRunning(process.execPath, ['bin/keyrotor.js', ...(services[service]?.command ?? [])], env);
      processes.push(child);
      await child.waitFor(ready, 120_000);
      return { child, env };
    };

    const provision = runCli(services.provision?.command ?? [], await environmentOf('provision'), 180_000);
    expect(provision.code).toBe(0);
    expect(provision.stdout).toContain("the nodes' PKCS#11 modules need environments of their own: provisioning each node in its own process");
    expect(provision.stdout).toContain('provisioned');

    /** What pkcs11-tool finds through the SoftHSM file that `worker` is given, read with the PIN in the node's PIN volume. */
    const softHsmModule = '/usr/lib/softhsm/libsofthsm2.so';
    const seenBy = (worker: string) => {
      const node = nodeOfWorker(worker);
      const env = { SOFTHSM2_CONF: containerOf(worker)(`/etc/keyrotor/softhsm/${node}.conf`) };
      const pin = readSecret({ file: join(volumeFolder(`pin-${node}`), 'pin') }, `node ${node}: PIN`);
      return { tokens: listTokenLabels(softHsmModule, env), objects: listTokenObjects({ modulePath: softHsmModule, tokenLabel: `keyrotor-${node}`, pin, env }) };
    };
    for (const worker of HSM_WORKERS) {
      const node = nodeOfWorker(worker);
      const { tokens, objects } = seenBy(worker);
      expect({ worker, tokens, secretKeys: objects.filter((o) => o.class === 'secrkey').map((o) => o.label).sort() })
        .toEqual({ worker, tokens: [`keyrotor-${node}`], secretKeys: ['keyrotor-archive-kek', 'keyrotor-cluster-kek'] });
      // One token in the node's own volume, and none anywhere else: no service fell back to a token folder of its own.
      expect(readdirSync(volumeFolder(`softhsm-${node}`))).toHaveLength(1);
      // The node's user PIN alone in its own volume; every SO PIN in the volume only the provisioning job mounts.
      expect(readdirSync(volumeFolder(`pin-${node}`))).toEqual(['pin']);
    }
    expect(readdirSync(volumeFolder('so-pins')).sort()).toEqual(HSM_WORKERS.map((worker) => `${nodeOfWorker(worker)}.so-pin`).sort());
    for (const service of KEYROTOR_SERVICES) expect({ service, fallback: existsSync(containerOf(service)('/var/lib/keyrotor/softhsm')) }).toEqual({ service, fallback: false });

    const [api1, api2, control1] = await Promise.all([
      launch('api', /API listening on/),
      launch('api', /API listening on/),
      launch('worker-control', /control worker running/),
      launch('worker-control', /control worker running/),
      launch('worker-hsm-1', /running; SIGINT or SIGTERM/),
      launch('worker-hsm-2', /running; SIGINT or SIGTERM/),
      launch('worker-hsm-3', /running; SIGINT or SIGTERM/),
    ]);
    const call = async (api: typeof api1, method: string, path: string, body?: unknown) => {
      const response = await fetch(`http://127.0.0.1:${api.env.KEYROTOR_API_PORT}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    expect((await call(api2, 'GET', '/health')).json).toMatchObject({ status: 'ok', nodes: [{ id: 'hsm-1', status: 'up' }, { id: 'hsm-2', status: 'up' }, { id: 'hsm-3', status: 'up' }] });

    expect((await call(api1, 'POST', '/keys', { name: 'topology', type: 'rsa-2048', policy: { publicationLead: '0s' } })).status).toBe(202);
    await eventually(async () => ((await call(api2, 'GET', '/keys/topology')).json.activeVersion === 1 ? true : undefined), 'v1 through the other API', 120_000);

    // Stop one control worker while the rotation is under way: the other takes over its workflow and activities.
    const rotation = call(api1, 'POST', '/keys/topology/rotate', { reason: 'control worker stops mid-rotation' });
    await eventually(async () => {
      const versions = (await call(api2, 'GET', '/keys/topology')).json.versions as Array<{ version: number }> | undefined;
      return versions?.some((v) => v.version === 2) ? true : undefined;
    }, 'v2 to be generated', 60_000, 50);
    await control1.child.stop('SIGKILL', 5000);
    const rotated = await rotation;
    expect(rotated).toMatchObject({ status: 200, json: { version: 2, previous: { version: 1, state: 'retiring' } } });
    const key = (await call(api2, 'GET', '/keys/topology')).json;
    expect(key).toMatchObject({ activeVersion: 2 });

    // Each node's own token holds both versions: generated on one node, replicated into the others' volumes.
    const versions = (key.versions as Array<{ version: number; fingerprint: string }>).sort((a, b) => a.version - b.version);
    for (const worker of HSM_WORKERS) {
      const { objects } = seenBy(worker);
      const held = versions.map(({ version, fingerprint }) => ({ version, objects: objects.filter((o) => o.idHex === fingerprint).map((o) => o.class).sort() }));
      expect({ worker, held }).toEqual({ worker, held: [{ version: 1, objects: ['privkey', 'pubkey'] }, { version: 2, objects: ['privkey', 'pubkey'] }] });
    }
  });
});
