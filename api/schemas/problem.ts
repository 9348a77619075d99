/** RFC 9457 problem details, the body of every error reply. */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'Stable machine-readable error code' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } }, required: ['path', 'message'] },
    },
  },
} as const;

/** The media type of every error reply. */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** An error reply in a route's response schema: documented, and serialized, as application/problem+json. */
const problem = { description: 'a problem (RFC 9457)', content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: 'Problem#' } } } } as const;

/** Error replies every authenticated route can give, for its response schema. */
export const authErrors = { 400: problem, 401: problem, 403: problem, 500: problem, 503: problem } as const;
/** Error replies of routes anyone may call. */
export const publicErrors = { 400: problem, 500: problem, 503: problem } as const;
export const problemRef = problem;

/** The error replies of the given statuses, beyond the ones every route of its kind can give. */
export const problems = (...statuses: readonly number[]): Record<number, typeof problem> => Object.fromEntries(statuses.map((status) => [status, problem]));
