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

const problem = { $ref: 'Problem#' } as const;

/** Error replies every authenticated route can give, for its response schema. */
export const authErrors = { 400: problem, 401: problem, 403: problem, 500: problem, 503: problem } as const;
export const problemRef = problem;
