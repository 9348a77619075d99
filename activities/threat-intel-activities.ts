import { Context } from '@temporalio/activity';
import { raiseAlert } from '../adapters/postgres/alert-repository';
import type { Database } from '../adapters/postgres/database';
import { keysReachedBy } from '../adapters/postgres/prediction-repository';
import { recordFeedPull, upsertIndicators, type FeedPull } from '../adapters/postgres/threat-intel-repository';
import { readSecret } from '../adapters/secrets';
import { NO_REEVALUATION, signalKeyReevaluation, type ReevaluationOutcome } from '../adapters/temporal/key-reevaluation';
import { describeFeed, fetchFeedDocument } from '../adapters/threat-intel/feed';
import type { KeyrotorConfig } from '../domain/config';
import { KeyrotorError, UserError } from '../domain/errors';
import { indicatorsOf, validateIndicatorBatch, type ValidIndicator } from '../domain/threat-intel/indicators';
import { withTypedFailures } from './failures';

export const THREAT_FEED_ACTOR = 'system:threat-intel-feed';

/** A pull as recorded (adapters/postgres/threat-intel-repository.ts FeedPull), and what it woke. */
export interface FeedPullResult extends Omit<FeedPull, 'at'> {
  /** false when no feed is configured (a schedule left from an earlier configuration). */
  configured: boolean;
  /** The keys the created and updated indicators reach, asked to evaluate themselves now; none for unchanged ones. */
  reevaluation: ReevaluationOutcome;
}

/** Fetches, parses and validates the whole feed; any problem is a KeyrotorError whose message names it. */
async function readFeed(config: KeyrotorConfig['threatIntel'] & { feedUrl: string }): Promise<{ received: number; indicators: ValidIndicator[] }> {
  const token = config.feedToken ? readSecret(config.feedToken, 'threatIntel.feedToken') : undefined;
  const raw = indicatorsOf(await fetchFeedDocument({ url: config.feedUrl, ...(token ? { token } : {}) }));
  // A feed with nothing to report right now is a valid feed.
  if (Array.isArray(raw) && raw.length === 0) return { received: 0, indicators: [] };
  const checked = validateIndicatorBatch(raw);
  if (checked.problems.length > 0) {
    const listed = checked.problems.slice(0, 5).map((p) => (p.row < 0 ? p.problems.join('; ') : `indicator ${p.row}: ${p.problems.join('; ')}`));
    throw new UserError('invalid_threat_feed', `${checked.problems.length} bad indicator(s), nothing of the feed stored: ${listed.join(' | ')}${checked.problems.length > 5 ? ' | …' : ''}`);
  }
  return { received: checked.indicators.length, indicators: checked.indicators };
}

/** Activities of the threat-intelligence feed; they run on the control task queue. */
export function createThreatIntelActivities(deps: { db: Database; config: KeyrotorConfig }) {
  const { db, config } = deps;
  return withTypedFailures({
    /**
     * One pull: the feed is validated whole and upserted, or nothing of it is stored. A feed that fails or is invalid
     * raises an alert (folded into one while it stays open) and is recorded; the next scheduled pull tries again, so
     * only a failure of PostgreSQL itself fails the activity. The keys that created or changed indicators reach are asked
     * to evaluate themselves now, as POST /threat-intel does; indicators the feed sends again unchanged wake no key.
     */
    async pullThreatFeed(_input: Record<string, never>): Promise<FeedPullResult> {
      const feedUrl = config.threatIntel.feedUrl;
      if (feedUrl === undefined) return { configured: false, ok: false, received: 0, created: 0, updated: 0, unchanged: 0, error: 'no feed is configured', reevaluation: NO_REEVALUATION };
      let feed: { received: number; indicators: ValidIndicator[] };
      try {
        feed = await readFeed({ ...config.threatIntel, feedUrl });
      } catch (error) {
        if (!(error instanceof KeyrotorError)) throw error;
        await recordFeedPull(db, { ok: false, received: 0, created: 0, updated: 0, unchanged: 0, error: error.message });
        await raiseAlert(db, {
          dedupKey: 'threat-intel:feed',
          severity: 'warning',
          source: 'threat-intel',
          subject: 'threat-intel/feed',
          message: `the threat-intelligence feed ${describeFeed(feedUrl)} failed and nothing of this pull was stored: ${error.message}. Indicators from earlier pulls still count until they expire`,
        }, config.alerts.webhooks.map((hook) => hook.id));
        return { configured: true, ok: false, received: 0, created: 0, updated: 0, unchanged: 0, error: error.message, reevaluation: NO_REEVALUATION };
      }
      const { reach, ...outcome } = feed.indicators.length > 0 ? await upsertIndicators(db, feed.indicators, THREAT_FEED_ACTOR) : { created: 0, updated: 0, unchanged: 0, reach: [] };
      // Signalled from here with the worker's own client, not from the workflow: the feed workflow's history stays one
      // activity whatever the number of keys reached. A crash between the upsert and this point loses the wake-up (the
      // retry finds the indicators unchanged); those keys see them at their next scheduled evaluation.
      const { log } = Context.current();
      const reevaluation = await signalKeyReevaluation(Context.current().client, await keysReachedBy(db, reach, new Date()), {
        why: 'threat-intelligence feed: new or changed indicators',
        onFailure: (key, error) => {
          log.warn('could not ask a key to evaluate itself after a feed pull', { key, error: error instanceof Error ? error.message : String(error) });
        },
      });
      await recordFeedPull(db, { ok: true, received: feed.received, ...outcome, error: null });
      return { configured: true, ok: true, received: feed.received, ...outcome, error: null, reevaluation };
    },
  });
}

export type ThreatIntelActivities = ReturnType<typeof createThreatIntelActivities>;
