import type { RunningSystem } from '../../workers/system';
import { startTestSystem } from '../support/system';

interface HealthBody {
  status: string;
  components: Record<string, { status: string }>;
  nodes: Array<{ id: string; status: string; reason?: string; tokenLabel?: string; randomBytesDrawn?: number }>;
}

describe('GET /health on the real stack (SoftHSM tokens, Temporal dev server, PostgreSQL)', () => {
  let system: RunningSystem;

  beforeAll(async () => {
    system = await startTestSystem();
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('answers 200 with every component up and each node answering through its own task queue', async () => {
    const reply = await system.app.inject({ method: 'GET', url: '/health' });
    const body = reply.json<HealthBody>();
    expect(reply.statusCode).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.components.temporal?.status).toBe('up');
    expect(body.components.postgres?.status).toBe('up');
    expect(body.nodes.map((node) => [node.id, node.status])).toEqual(system.config.hsm.nodes.map((node) => [node.id, 'up']));
    for (const [index, node] of body.nodes.entries()) {
      // The token label proves that the answer came from that node's own token.
      expect(node.tokenLabel).toBe(system.config.hsm.nodes[index]?.tokenLabel);
      expect(node.randomBytesDrawn).toBe(16);
    }
  });

  it('reports a node whose worker is stopped as down within its timeout, and the others up', async () => {
    const stopped = system.config.hsm.nodes[2]!.id;
    await system.stopHsmWorker(stopped);
    try {
      const started = Date.now();
      const reply = await system.app.inject({ method: 'GET', url: '/health' });
      const elapsed = Date.now() - started;
      const body = reply.json<HealthBody>();
      expect(reply.statusCode).toBe(503);
      expect(body.status).toBe('degraded');
      const down = body.nodes.find((node) => node.id === stopped);
      expect(down?.status).toBe('down');
      expect(down?.reason).toMatch(/no worker picked up the ping within 2000 ms/);
      expect(body.nodes.filter((node) => node.id !== stopped).every((node) => node.status === 'up')).toBe(true);
      // The down node costs its schedule-to-start timeout, not a hang.
      expect(elapsed).toBeLessThan(2000 * 2 + 2000);
    } finally {
      await system.startHsmWorker(stopped);
    }
    const again = await system.app.inject({ method: 'GET', url: '/health' });
    expect(again.json<HealthBody>().status).toBe('ok');
  });
});
