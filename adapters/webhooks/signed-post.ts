import { createHmac } from 'node:crypto';

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

export interface SignedPostResult {
  ok: boolean;
  status?: number;
  error?: string;
}

/** POSTs a JSON body signed with the sink's secret. Never throws: the caller records the outcome and retries. */
export async function postSignedJson(url: string, secret: string, event: string, payload: unknown, timeoutMs = 5000): Promise<SignedPostResult> {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(Date.now() / 1000));
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [EVENT_HEADER]: event,
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await response.body?.cancel();
    return response.ok ? { ok: true, status: response.status } : { ok: false, status: response.status, error: `HTTP ${response.status}` };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
