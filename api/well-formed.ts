import type { FastifyInstance } from 'fastify';
import { isWellFormedText } from '../domain/input-bounds';

/** The JSON pointer of the first string in `value` (its keys included) that is not valid Unicode, or undefined. */
function firstIllFormed(value: unknown, pointer = ''): string | undefined {
  if (typeof value === 'string') return isWellFormedText(value) ? undefined : pointer;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = firstIllFormed(item, `${pointer}/${index}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (!isWellFormedText(key)) return pointer;
      const found = firstIllFormed(item, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * Refuses every request that carries a lone surrogate ("\ud800" in JSON) anywhere in its path parameters, query string
 * or body, as a schema refusal naming the field: the schemas' text patterns cannot say it in a form every OpenAPI tool
 * reads, and PostgreSQL cannot store such text as JSON.
 */
export function installWellFormedCheck(app: FastifyInstance): void {
  app.addHook('preValidation', (request, _reply, done) => {
    for (const [context, value] of [['params', request.params], ['querystring', request.query], ['body', request.body]] as const) {
      const instancePath = firstIllFormed(value);
      if (instancePath === undefined) continue;
      const message = 'must be valid Unicode (it holds a lone surrogate)';
      done(
        Object.assign(new Error(`${context}${instancePath} ${message}`), {
          statusCode: 400,
          validation: [{ keyword: 'wellFormed', instancePath, schemaPath: '#', params: {}, message }],
          validationContext: context,
        }),
      );
      return;
    }
    done();
  });
}
