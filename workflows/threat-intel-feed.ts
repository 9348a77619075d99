import { proxyActivities } from '@temporalio/workflow';
import type { FeedPullResult, ThreatIntelActivities } from '../activities/threat-intel-activities';

const { pullThreatFeed } = proxyActivities<ThreatIntelActivities>({
  // Fetching is capped at 30 s; the rest is one transaction, then a reevaluateKey signal to each key that new or
  // changed indicators reach (8 in flight at a time).
  startToCloseTimeout: '2m',
  // A failing feed is an alert, not a failure; these retries cover PostgreSQL only. The next run comes anyway.
  retry: { maximumAttempts: 3 },
  summary: 'pull, validate and store the threat-intelligence feed',
});

/** One pull of the configured threat-intelligence feed, started by the `threat-intel-feed` schedule. */
export async function threatIntelFeedWorkflow(_input: Record<string, never>): Promise<FeedPullResult> {
  return pullThreatFeed({});
}
