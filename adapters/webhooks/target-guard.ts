import { lookup } from 'node:dns/promises';
import { ExternalError, UserError } from '../../domain/errors';
import { checkResolvedAddresses, checkWebhookUrl, formatIpAddress, type AllowedTarget, type WebhookTarget } from '../../domain/webhook-target';

/** Every address a host name resolves to. */
export type HostResolver = (host: string) => Promise<string[]>;

export const systemResolver: HostResolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/** What a delivery may reach: the configured allowlist, and how host names are resolved (tests pass their own). */
export interface WebhookGuard {
  allowedTargets: readonly AllowedTarget[];
  resolve?: HostResolver;
}

/**
 * Checks a webhook URL as it is configured, and the addresses its host resolves to now. Answers the address to connect
 * to, or why the target is refused. A lookup that fails is an error, not a refusal: DNS may answer on the next try.
 */
export async function resolveWebhookTarget(url: string, guard: WebhookGuard): Promise<{ ok: true; target: WebhookTarget; address: string } | { ok: false; refused?: string; lookupCode?: string; error: string }> {
  const checked = checkWebhookUrl(url, guard.allowedTargets);
  if (!checked.ok) return { ok: false, refused: checked.reason, error: `refused: ${checked.reason}` };
  const { target } = checked;
  let resolved: string[] = [];
  if (!target.address) {
    try {
      resolved = await (guard.resolve ?? systemResolver)(target.host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return { ok: false, error: `cannot resolve ${target.host} (${code ?? (error as Error).message})`, ...(code !== undefined ? { lookupCode: code } : {}) };
    }
  }
  const address = checkResolvedAddresses(target, resolved, guard.allowedTargets);
  if (!address.ok) return { ok: false, refused: address.reason, error: `refused: ${address.reason}` };
  return { ok: true, target, address: formatIpAddress(address.address) };
}

/**
 * A webhook URL as alerts and logs may name it: scheme, host and path. A receiver's URL may carry a token of its own in
 * its query, and an alert travels further than the subscription list does.
 */
export function webhookUrlForMessages(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

/** Lookup failures that mean the name does not exist, as opposed to DNS not answering now. */
const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA']);

/**
 * Checks a webhook URL when it is subscribed: refused (400 `webhook_target_refused`, naming why) when the URL or any
 * address its host resolves to now is not allowed. Each delivery checks again.
 */
export async function assertWebhookTarget(url: string, guard: WebhookGuard): Promise<void> {
  const resolved = await resolveWebhookTarget(url, guard);
  if (resolved.ok) return;
  if (resolved.refused !== undefined) throw new UserError('webhook_target_refused', `${url} is refused as a webhook target: ${resolved.refused}`);
  if (resolved.lookupCode !== undefined && NO_SUCH_NAME.has(resolved.lookupCode)) {
    throw new UserError('webhook_target_refused', `${url} is refused as a webhook target: its host does not resolve (${resolved.lookupCode})`);
  }
  throw new ExternalError('dns_unavailable', `could not check webhook target ${url}: ${resolved.error}`);
}
