import { randomBytes, randomUUID } from 'node:crypto';
import type { Database } from './database';
import { appendAudit } from './audit-repository';

export interface Subscription {
  id: string;
  url: string;
  createdAt: string;
  createdBy: string;
}

interface Row {
  id: string;
  url: string;
  /** Null once the subscription is deleted. */
  secret: string | null;
  created_at: Date;
  created_by: string;
}

const toSubscription = (row: Row): Subscription => ({ id: row.id, url: row.url, createdAt: row.created_at.toISOString(), createdBy: row.created_by });

/** Creates a subscription with a fresh signing secret, returned this once. */
export async function createSubscription(db: Database, input: { url: string; actor: string }): Promise<{ subscription: Subscription; secret: string }> {
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const subscription = await db.transaction(async (tx) => {
    const { rows } = await tx.query<Row>('INSERT INTO webhook_subscriptions (id, url, secret, created_by) VALUES ($1, $2, $3, $4) RETURNING *', [randomUUID(), input.url, secret, input.actor]);
    const created = toSubscription(rows[0] as Row);
    await appendAudit(tx, { actor: input.actor, action: 'subscription.created', subject: `subscription/${created.id}`, details: { url: created.url } });
    return created;
  });
  return { subscription, secret };
}

export async function listSubscriptions(db: Database): Promise<Subscription[]> {
  const { rows } = await db.query<Row>('SELECT * FROM webhook_subscriptions WHERE deleted_at IS NULL ORDER BY created_at');
  return rows.map(toSubscription);
}

export async function subscriptionWithSecret(db: Database, id: string): Promise<(Subscription & { secret: string }) | undefined> {
  const { rows } = await db.query<Row>('SELECT * FROM webhook_subscriptions WHERE id = $1 AND deleted_at IS NULL AND secret IS NOT NULL', [id]);
  return rows[0]?.secret ? { ...toSubscription(rows[0]), secret: rows[0].secret } : undefined;
}

/** Deletes a subscription: the row stays for the record, its signing secret is erased (a constraint keeps it so). */
export async function deleteSubscription(db: Database, id: string, actor: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const result = await tx.query('UPDATE webhook_subscriptions SET deleted_at = now(), secret = NULL WHERE id = $1 AND deleted_at IS NULL', [id]);
    if (result.rowCount === 0) return false;
    await appendAudit(tx, { actor, action: 'subscription.deleted', subject: `subscription/${id}` });
    return true;
  });
}
