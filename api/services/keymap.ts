import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { listAnchorRecords } from '../../adapters/postgres/audit-anchor-repository';
import type { Database } from '../../adapters/postgres/database';
import { latestSyncRun, listKeymapNodes, loadKeymapSource } from '../../adapters/postgres/keymap-repository';
import type { KeyrotorConfig } from '../../domain/config';
import { WORKFLOW_TYPES, keymapSyncWorkflowId } from '../../domain/identifiers';
import { buildKeyMap, keymapDigest } from '../../domain/keymap/build';
import type { KeymapSyncResult } from '../../domain/keymap/sync';
import type { KeyMap, KeyMapKey } from '../../domain/keymap/types';
import { isEncryptionKeyType } from '../../domain/keys/key-types';
import { minDecryptionVersion, versionUsage } from '../../domain/keys/lifecycle-state';
import { DEFAULT_POLICY, resolvePolicy } from '../../domain/keys/policy';
import type { keymapSyncWorkflow } from '../../workflows/keymap-sync';
import type { Defaulted } from '../schemas/bounds';
import type { KeymapNodes, KeymapQuery as KeymapQueryFields, KeymapReply } from '../schemas/keymap';

type KeymapQuery = Defaulted<KeymapQueryFields, 'limit' | 'offset'>;

/** Keeps what the filters ask for: a key, the versions in a state, the versions a node holds (and only its holdings). */
function filterKeys(keys: KeyMapKey[], query: KeymapQuery): KeyMapKey[] {
  const filtered: KeyMapKey[] = [];
  for (const key of keys) {
    if (query.key !== undefined && key.name !== query.key) continue;
    let versions = key.versions;
    if (query.state !== undefined) versions = versions.filter((version) => version.state === query.state);
    if (query.node !== undefined) {
      const node = query.node;
      versions = versions.filter((version) => node in version.nodes).map((version) => ({ ...version, nodes: { [node]: version.nodes[node] as KeyMapKey['versions'][number]['nodes'][string] } }));
    }
    if ((query.state !== undefined || query.node !== undefined) && versions.length === 0) continue;
    filtered.push({ ...key, versions });
  }
  return filtered;
}

/**
 * Encryption keys in the key map: what each version may do on every node by its state (mayEncrypt, mayDecrypt), and
 * the key's minDecryptionVersion. Added to the reply, not to the signed map the nodes hold: they follow from each
 * version's state and the key's policy, which the map has.
 */
function withEncryptionUsage(key: KeyMapKey): KeymapReply['keys'][number] {
  if (!isEncryptionKeyType(key.keyType)) return key;
  const shape = { keyType: key.keyType, policy: resolvePolicy(key.policy, DEFAULT_POLICY), versions: key.versions };
  const usage = new Map((versionUsage(shape) ?? []).map((u) => [u.version, u]));
  return {
    ...key,
    minDecryptionVersion: minDecryptionVersion(shape),
    versions: key.versions.map((v) => {
      const may = usage.get(v.version);
      return may ? { ...v, mayEncrypt: may.encrypt && may.wrap, mayDecrypt: may.decrypt && may.unwrap } : v;
    }),
  };
}

/** What the key map routes do: read the map from PostgreSQL (the source of truth), or run a sync through Temporal. */
export class KeymapService {
  constructor(
    private readonly db: Database,
    private readonly temporal: Client,
    private readonly config: KeyrotorConfig,
  ) {}

  private async current(): Promise<{ epoch: number; digest: string; map: KeyMap }> {
    const source = await loadKeymapSource(this.db);
    const map = buildKeyMap(source);
    return { epoch: source.epoch, digest: keymapDigest(map), map };
  }

  async keymap(query: KeymapQuery): Promise<KeymapReply> {
    const { epoch, digest, map } = await this.current();
    const keys = filterKeys(map.keys, query);
    return { epoch, digest, total: keys.length, keys: keys.slice(query.offset, query.offset + query.limit).map(withEncryptionUsage), nodes: map.nodes };
  }

  async nodes(): Promise<KeymapNodes> {
    const [{ epoch, digest }, rows, lastSync, anchors] = await Promise.all([this.current(), listKeymapNodes(this.db), latestSyncRun(this.db), listAnchorRecords(this.db)]);
    const byId = new Map(rows.map((row) => [row.nodeId, row]));
    const anchorOf = new Map(anchors.map(({ node, ...anchor }) => [node, anchor]));
    const configured = this.config.hsm.nodes.map((node) => node.id);
    const ids = [...configured, ...rows.map((row) => row.nodeId).filter((id) => !configured.includes(id))];
    return {
      epoch,
      digest,
      lastSync,
      nodes: ids.map((id) => {
        const row = byId.get(id);
        const acknowledged = row?.ackedEpoch != null && row.ackedDigest ? { epoch: row.ackedEpoch, digest: row.ackedDigest, at: row.ackedAt } : null;
        return {
          id,
          member: configured.includes(id),
          entropy: row?.entropy ?? { status: 'unknown', unhealthySources: [] },
          acknowledged,
          inSync: acknowledged !== null && acknowledged.epoch === epoch && acknowledged.digest === digest,
          epochsBehind: acknowledged ? epoch - acknowledged.epoch : null,
          stale: row?.staleSince != null,
          staleSince: row?.staleSince ?? null,
          staleReason: row?.staleReason ?? null,
          lastSyncAt: row?.lastSyncAt ?? null,
          lastSeenAt: row?.lastSeenAt ?? null,
          snapshot: { status: row?.snapshotStatus ?? null, problem: row?.snapshotProblem ?? null, checkedAt: row?.snapshotCheckedAt ?? null, tamperedAt: row?.tamperedAt ?? null },
          drift: row?.drift ?? null,
          auditAnchor: anchorOf.get(id) ?? null,
        };
      }),
    };
  }

  /** Runs a sync now and waits for its result; a sync already running finishes first (they share one lease). */
  async sync(actor: string): Promise<KeymapSyncResult> {
    const handle = await this.temporal.workflow.start<typeof keymapSyncWorkflow>(WORKFLOW_TYPES.keymapSync, {
      taskQueue: this.config.temporal.controlTaskQueue,
      workflowId: keymapSyncWorkflowId(randomUUID()),
      args: [{ trigger: 'manual', actor, cluster: this.config.hsm.nodes.map((node) => node.id) }],
      workflowExecutionTimeout: '20m',
      staticSummary: `key map sync asked by ${actor}`,
    });
    return handle.result();
  }
}
