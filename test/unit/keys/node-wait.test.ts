import { NODE_AWAY_AFTER_MS, NODE_WAIT_ALERT_AFTER_MS, NODE_WAIT_RETRY_MS, describeWaiting, nodeTryTimeoutMs, waitForNodes } from '../../../domain/keys/node-wait';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const step = 'replicate v4 from hsm-1 to hsm-2, hsm-3';

describe('waiting for an away node', () => {
  it('a first try gives the worker the away bound; the next one ends when the alert is due; once reported, tries are long', () => {
    expect(nodeTryTimeoutMs(null, T0)).toBe(NODE_AWAY_AFTER_MS);
    expect(nodeTryTimeoutMs({ for: 'an HSM node to answer (none did)', since: iso(T0) }, T0)).toBe(NODE_AWAY_AFTER_MS);
    const first = waitForNodes(null, { nodes: ['hsm-3'], step, triedMs: NODE_AWAY_AFTER_MS, nowMs: T0 });
    // The wait counts from the first untaken try, not from when it timed out.
    expect(first.waiting).toEqual({ for: 'nodes', nodes: ['hsm-3'], step, since: iso(T0 - NODE_AWAY_AFTER_MS), alertedAt: null });
    expect(first.alertDue).toBe(false);
    expect(nodeTryTimeoutMs(first.waiting, T0)).toBe(NODE_WAIT_ALERT_AFTER_MS - NODE_AWAY_AFTER_MS);
    // A try that ends late (a loaded worker) still gives the node a moment.
    expect(nodeTryTimeoutMs(first.waiting, T0 + 60_000)).toBe(1000);

    const second = waitForNodes(first.waiting, { nodes: ['hsm-3'], step, triedMs: NODE_WAIT_ALERT_AFTER_MS - NODE_AWAY_AFTER_MS, nowMs: T0 + NODE_WAIT_ALERT_AFTER_MS - NODE_AWAY_AFTER_MS });
    expect(second.alertDue).toBe(true);
    expect(second.waiting.since).toBe(first.waiting.since);
    expect(second.waiting.alertedAt).toBe(iso(T0 + NODE_WAIT_ALERT_AFTER_MS - NODE_AWAY_AFTER_MS));
    expect(nodeTryTimeoutMs(second.waiting, T0 + NODE_WAIT_ALERT_AFTER_MS)).toBe(NODE_WAIT_RETRY_MS);

    // Reported once: later tries carry the wait without a second alert.
    const third = waitForNodes(second.waiting, { nodes: ['hsm-3'], step, triedMs: NODE_WAIT_RETRY_MS, nowMs: T0 + NODE_WAIT_RETRY_MS });
    expect(third.alertDue).toBe(false);
    expect(third.waiting).toEqual(second.waiting);
  });

  it('a wait at another step starts again; the nodes are named in order; the words say who and what', () => {
    const archive = waitForNodes(null, { nodes: ['hsm-3', 'hsm-2'], step: 'destroy the private key of v3', triedMs: NODE_AWAY_AFTER_MS, nowMs: T0 });
    expect(archive.waiting.nodes).toEqual(['hsm-2', 'hsm-3']);
    const purge = waitForNodes({ ...archive.waiting, alertedAt: iso(T0) }, { nodes: ['hsm-3'], step: 'purge v3', triedMs: NODE_AWAY_AFTER_MS, nowMs: T0 + 60_000 });
    expect(purge.waiting).toMatchObject({ step: 'purge v3', since: iso(T0 + 60_000 - NODE_AWAY_AFTER_MS), alertedAt: null });
    expect(describeWaiting(archive.waiting)).toBe('hsm-2, hsm-3 (destroy the private key of v3)');
    expect(describeWaiting({ for: 'an HSM node to answer (none did)', since: iso(T0) })).toBe('an HSM node to answer (none did)');
  });
});
