import { createPublicKey, verify } from 'node:crypto';
import { appendAudit } from '../../adapters/postgres/audit-repository';
import { readSecret } from '../../adapters/secrets';
import { canonicalJson } from '../../domain/canonical-json';
import type { KeyrotorConfig } from '../../domain/config';
import { AUDIT_ANCHOR_LABEL } from '../../domain/identifiers';
import type { KeymapSyncResult } from '../../domain/keymap/sync';
import type { RunningSystem } from '../../workers/system';
import { deleteObject, listTokenObjects, readDataObject, readPublicKeyDer, writeDataObject, type TokenAccess } from '../support/pkcs11-listing';
import { callApiAs, startTestSystem, superuserDatabase, testConfig, tokenFor } from '../support/system';

interface AnchorsReply {
  ok: boolean;
  lastSeq: number | null;
  headHash: string;
  anchored: boolean;
  anchors: Array<{ node: string; seq: number | null; hash: string | null; checkedAt: string; status: string; matchesLog: boolean }>;
}

describe('the audit anchor in the HSMs on the real stack: three SoftHSM tokens, Temporal, PostgreSQL', () => {
  let system: RunningSystem;
  let config: KeyrotorConfig;
  let operator: string;
  let auditor: string;
  let signingFingerprint: string;

  beforeAll(async () => {
    config = await testConfig();
    system = await startTestSystem(config);
    operator = await tokenFor(system, 'operator');
    auditor = await tokenFor(system, 'auditor');
  });

  afterAll(async () => {
    await system?.stop();
  });

  const api = <T = Record<string, unknown>>(method: 'GET' | 'POST', url: string, token = operator): Promise<{ status: number; body: T }> => callApiAs<T>(system, token, method, url);
  const sync = async (): Promise<KeymapSyncResult> => {
    const reply = await api<KeymapSyncResult>('POST', '/keymap/sync');
    expect(reply.status).toBe(200);
    expect(reply.body.problems).toEqual([]);
    return reply.body;
  };
  const verifyLog = async (): Promise<AnchorsReply> => {
    const reply = await api<AnchorsReply>('GET', '/audit/verify', auditor);
    expect(reply.status).toBe(200);
    return reply.body;
  };
  const access = (index: number): TokenAccess => {
    const node = config.hsm.nodes[index] as KeyrotorConfig['hsm']['nodes'][number];
    return { modulePath: node.modulePath, tokenLabel: node.tokenLabel, pin: readSecret(node.pin, 'pin') };
  };
  const nodeIds = (): string[] => config.hsm.nodes.map((node) => node.id);
  const nodeOf = (result: KeymapSyncResult, index: number) => result.nodes.find((node) => node.nodeId === nodeIds()[index]) as KeymapSyncResult['nodes'][number];
  const dbHead = async (): Promise<{ seq: number; hash: string }> => {
    const { rows } = await system.db.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    return { seq: Number(rows[0]?.seq), hash: rows[0]?.hash as string };
  };
  /** The anchor a token holds, read with pkcs11-tool, and whether it verifies with the map-signing public key read the same way. */
  const anchorOn = (index: number): { seq: number; hash: string; verifies: boolean } => {
    const { anchor, signature } = JSON.parse(readDataObject(access(index), AUDIT_ANCHOR_LABEL).toString('utf8')) as { anchor: { seq: number; hash: string }; signature: { keyFingerprint: string; value: string } };
    const spki = readPublicKeyDer(access(index), signingFingerprint);
    const verifies = signature.keyFingerprint === signingFingerprint
      && verify('sha256', Buffer.from(canonicalJson(anchor)), { key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(signature.value, 'base64'));
    return { seq: anchor.seq, hash: anchor.hash, verifies };
  };

  it('anchors the log head on every node; a sync with nothing new writes nothing; new entries move every anchor without a sync entry of their own', async () => {
    const first = await sync();
    signingFingerprint = (first.signingKey as { fingerprint: string }).fingerprint;
    const head = await dbHead();
    for (let index = 0; index < 3; index += 1) {
      expect(nodeOf(first, index).auditAnchor).toMatchObject({ status: 'missing', action: 'written', written: head, bytesWritten: expect.any(Number) });
      expect(anchorOn(index)).toEqual({ ...head, verifies: true });
      expect(listTokenObjects(access(index)).filter((o) => o.label === AUDIT_ANCHOR_LABEL)).toHaveLength(1);
    }
    // The sync's own audit entry (it made the signing key and wrote the snapshots) is part of what is anchored.
    const { rows } = await system.db.query<{ action: string }>('SELECT action FROM audit_log WHERE seq = $1', [head.seq]);
    expect(rows[0]?.action).toBe('keymap.synced');
    const verified = await verifyLog();
    expect(verified).toMatchObject({ ok: true, anchored: true, lastSeq: head.seq, headHash: head.hash });
    expect(verified.anchors.map((anchor) => [anchor.node, anchor.seq, anchor.hash, anchor.status, anchor.matchesLog])).toEqual(nodeIds().sort().map((id) => [id, head.seq, head.hash, 'valid', true]));

    const second = await sync();
    for (let index = 0; index < 3; index += 1) {
      expect({ bytesWritten: nodeOf(second, index).bytesWritten, anchor: nodeOf(second, index).auditAnchor }).toEqual({
        bytesWritten: 0, anchor: { status: 'valid', problem: null, found: head, action: 'unchanged', written: null, bytesWritten: 0 },
      });
    }
    expect(await dbHead()).toEqual(head);

    for (let i = 0; i < 3; i += 1) await system.db.transaction((tx) => appendAudit(tx, { actor: 'test', action: 'key.rotated', subject: `key/anchored-${i}`, details: { i } }));
    const moved = await dbHead();
    const third = await sync();
    for (let index = 0; index < 3; index += 1) {
      expect(nodeOf(third, index).auditAnchor).toMatchObject({ status: 'valid', found: head, action: 'written', written: moved });
      expect(anchorOn(index)).toEqual({ ...moved, verifies: true });
    }
    // An anchor written alone is not audited: the log ends where it was anchored, and the next sync writes nothing.
    expect(await dbHead()).toEqual(moved);
    for (const node of (await sync()).nodes) expect(node.bytesWritten).toBe(0);
  });

  it('reports an anchor altered by hand on one node as tampered, and rewrites it', async () => {
    const original = readDataObject(access(1), AUDIT_ANCHOR_LABEL).toString('utf8');
    const { seq } = anchorOn(1);
    const forged = original.replace(`"seq":${seq}`, `"seq":${seq + 1000}`);
    expect(forged).not.toBe(original);
    deleteObject(access(1), 'data', { label: AUDIT_ANCHOR_LABEL });
    writeDataObject(access(1), AUDIT_ANCHOR_LABEL, Buffer.from(forged), 'keyrotor');

    const result = await sync();
    expect(nodeOf(result, 1).auditAnchor).toMatchObject({ status: 'tampered', action: 'rewritten', problem: expect.stringMatching(/signature of the anchor does not verify/) });
    // The forged object is not a stranger in the node's inventory.
    expect(result.unknownObjects).toEqual([]);
    const head = await dbHead();
    for (let index = 0; index < 3; index += 1) expect(anchorOn(index)).toEqual({ ...head, verifies: true });
    const alerts = (await api<{ alerts: Array<{ severity: string; subject: string; message: string }> }>('GET', '/alerts?source=audit&limit=100')).body.alerts;
    expect(alerts.find((alert) => alert.subject === `node/${nodeIds()[1]}` && /fails verification/.test(alert.message))?.severity).toBe('critical');
    expect(await verifyLog()).toMatchObject({ ok: true, anchored: true });
  });

  it('finds the newest audit entries removed by someone with database access, raises a critical alert, and keeps the anchors that show it', async () => {
    const anchored = await dbHead();
    for (let index = 0; index < 3; index += 1) expect(anchorOn(index)).toEqual({ ...anchored, verifies: true });
    // The intruder: the PostgreSQL superuser (keyrotor's own role may not) switches the append-only trigger off, removes
    // the newest entries, switches it on.
    const superuser = superuserDatabase(config);
    try {
      await superuser.transaction(async (tx) => {
        await tx.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
        await tx.query('DELETE FROM audit_log WHERE seq > $1', [anchored.seq - 3]);
        await tx.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
      });
    } finally {
      await superuser.close();
    }
    // The chain alone cannot tell: what is left is a shorter valid chain.
    expect(await verifyLog()).toMatchObject({ ok: true, lastSeq: anchored.seq - 3 });

    const result = await sync();
    for (let index = 0; index < 3; index += 1) {
      expect(nodeOf(result, index).auditAnchor).toMatchObject({ status: 'ahead-of-database', found: anchored, action: 'kept', written: null, bytesWritten: 0 });
      // Not laundered: the node still anchors the entry the log lost.
      expect(anchorOn(index)).toEqual({ ...anchored, verifies: true });
    }
    const alerts = (await api<{ alerts: Array<{ severity: string; subject: string; message: string }> }>('GET', '/alerts?source=audit&limit=100')).body.alerts;
    for (const id of nodeIds()) {
      const alert = alerts.find((entry) => entry.subject === `node/${id}` && entry.message.includes(`anchors audit entry ${anchored.seq} (${anchored.hash})`));
      expect(alert).toMatchObject({ severity: 'critical', message: expect.stringContaining(`holds no entry ${anchored.seq} (it ends at ${anchored.seq - 3}): its newest entries were removed`) });
    }
    const verified = await verifyLog();
    expect(verified.anchored).toBe(false);
    expect(verified.anchors.map((anchor) => [anchor.node, anchor.seq, anchor.hash, anchor.status, anchor.matchesLog])).toEqual(
      nodeIds().sort().map((id) => [id, anchored.seq, anchored.hash, 'ahead-of-database', false]),
    );
    const nodes = (await api<{ nodes: Array<{ id: string; auditAnchor: { status: string; seq: number } | null }> }>('GET', '/keymap/nodes', auditor)).body.nodes;
    expect(nodes.map((node) => node.auditAnchor?.status)).toEqual(['ahead-of-database', 'ahead-of-database', 'ahead-of-database']);

    // The alerts appended entries since, so the log is as long again, but its entry at the anchored seq is another one:
    // the next sync still refuses it and keeps the anchors.
    const again = await sync();
    for (let index = 0; index < 3; index += 1) {
      expect(nodeOf(again, index).auditAnchor?.action).toBe('kept');
      expect(['ahead-of-database', 'mismatch']).toContain(nodeOf(again, index).auditAnchor?.status);
      expect(anchorOn(index)).toEqual({ ...anchored, verifies: true });
    }
    expect((await verifyLog()).anchored).toBe(false);
  });
});
