import type { FastifyRequest } from 'fastify';

const REDACTED = '[redacted]';

/**
 * A request URL as it may be logged: the path, and the query with every value replaced. A query string is where clients
 * put what they should not (`?token=`, `?api_key=`, a signed link's signature), and a log line outlives the request; the
 * names stay so that a line still says what was asked.
 */
export function redactedUrl(url: string): string {
  const mark = url.indexOf('?');
  if (mark < 0) return url;
  const names = url
    .slice(mark + 1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const equals = pair.indexOf('=');
      return `${equals < 0 ? pair : pair.slice(0, equals)}=${REDACTED}`;
    });
  return `${url.slice(0, mark)}?${names.join('&')}`;
}

/** Fastify's request serializer without the query's values; headers (Authorization among them) are never logged. */
export function requestLogSerializer(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactedUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
