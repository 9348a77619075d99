import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { resolveWebhookTarget, type WebhookGuard } from './target-guard';

export const SIGNATURE_HEADER = 'x-keyrotor-signature';
export const TIMESTAMP_HEADER = 'x-keyrotor-timestamp';
export const EVENT_HEADER = 'x-keyrotor-event';

/**
 * HMAC-SHA256 over `<timestamp>.<body>`: binding the timestamp lets a receiver refuse replays of an old delivery.
 * Returned as `sha256=<hex>`.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type SignedPostResult =
  | { ok: true; status: number }
  /** `refused`: the target is not allowed (nothing was sent); the reason names why. */
  | { ok: false; status?: number; error: string; refused?: string };

/**
 * POSTs a JSON body signed with the sink's secret to a target that passes the webhook rules at this moment: the host is
 * resolved here, every address it resolves to is checked, and the connection goes to the address checked, never to a
 * second lookup of the name (which DNS rebinding would answer differently). TLS still verifies the certificate against
 * the host name. Redirects are not followed. Never throws: the caller records the outcome and retries.
 */
export async function postSignedJson(url: string, secret: string, event: string, payload: unknown, guard: WebhookGuard, timeoutMs = 5000): Promise<SignedPostResult> {
  const resolved = await resolveWebhookTarget(url, guard);
  if (!resolved.ok) return { ok: false, error: resolved.error, ...(resolved.refused !== undefined ? { refused: resolved.refused } : {}) };
  const { target, address } = resolved;
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const parsed = new URL(target.url);
  const headers = {
    host: parsed.host,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    [EVENT_HEADER]: event,
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
  };
  return new Promise((resolve) => {
    const options: https.RequestOptions = {
      host: address,
      port: target.port,
      path: `${parsed.pathname}${parsed.search}`,
      method: 'POST',
      headers,
      agent: false,
      signal: AbortSignal.timeout(timeoutMs),
      // SNI and the certificate check name the host, not the address connected to.
      ...(target.address ? {} : { servername: target.host }),
    };
    const request = (target.protocol === 'https:' ? https : http).request(options, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` });
    });
    request.on('error', (error) => resolve({ ok: false, error: error.message }));
    request.end(body);
  });
}
