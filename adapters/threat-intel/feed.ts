import { ExternalError } from '../../domain/errors';

export interface FeedRequest {
  url: string;
  /** Sent as a bearer token; never part of a message. */
  token?: string;
  timeoutMs?: number;
  maxBytes?: number;
}

/**
 * The feed named for messages and alerts: origin and path only, since a query string or user info may carry a
 * credential.
 */
export function describeFeed(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early (by the throw) cancels the rest of the body.
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new ExternalError('threat_feed_too_large', `it sent more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * GETs the feed document and parses it as JSON. Redirects are refused rather than followed: the bearer token must
 * reach the configured host and no other. Messages say what the feed did ("it answered HTTP 503"); the caller names it.
 */
export async function fetchFeedDocument(request: FeedRequest): Promise<unknown> {
  const maxBytes = request.maxBytes ?? 16 * 1024 * 1024;
  let response: Response;
  try {
    response = await fetch(request.url, {
      headers: { accept: 'application/json', ...(request.token ? { authorization: `Bearer ${request.token}` } : {}) },
      signal: AbortSignal.timeout(request.timeoutMs ?? 30_000),
      redirect: 'manual',
    });
  } catch (error) {
    const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    throw new ExternalError('threat_feed_unreachable', `it cannot be reached (${reason})`, { cause: error });
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel();
    throw new ExternalError('threat_feed_redirected', `it answered ${response.status} (a redirect); configure the URL it points to`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ExternalError('threat_feed_failed', `it answered HTTP ${response.status}`, { retryable: response.status >= 500 });
  }
  const text = await readCapped(response, maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ExternalError('threat_feed_not_json', 'it did not send JSON');
  }
}
