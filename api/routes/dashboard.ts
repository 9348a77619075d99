import { readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { dashboardDistDir } from '../../scripts/tool-paths';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only its own script and style and talk only to this origin: an injected string can never run, and
 * the token in sessionStorage can only travel to the API that issued it.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A bundle file name: no separators and no leading dot, so a request can never leave the bundle folder. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)+$/;

async function sendBundleFile(reply: FastifyReply, file: string, root: string): Promise<FastifyReply> {
  const type = CONTENT_TYPES[extname(file)];
  if (!type || !FILE_NAME.test(file)) {
    reply.callNotFound();
    return reply;
  }
  const path = join(root, file);
  let body: Buffer;
  let modified: Date;
  try {
    [body, modified] = await Promise.all([readFile(path), stat(path).then((info) => info.mtime)]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (file !== 'index.html') {
      reply.callNotFound();
      return reply;
    }
    return reply
      .status(503)
      .type('text/plain; charset=utf-8')
      .send('The keyrotor dashboard is not built. Run `node scripts/build-dashboard.js` (npm start and npm test do it), then reload.\n');
  }
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    // Revalidated on every load, so a rebuilt bundle shows at once.
    .header('cache-control', 'no-cache')
    .header('last-modified', modified.toUTCString())
    .type(type)
    .send(body);
}

/** The dashboard: static files built by scripts/build-dashboard.js, served from the API's own origin under /ui/. */
export function dashboardRoutes(app: FastifyInstance, root: string = dashboardDistDir): void {
  const hidden = { schema: { hide: true } };
  app.get('/', hidden, (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui', hidden, (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui/', hidden, (_request, reply) => sendBundleFile(reply, 'index.html', root));
  app.get<{ Params: { file: string } }>('/ui/:file', hidden, (request, reply) => sendBundleFile(reply, request.params.file, root));
}
