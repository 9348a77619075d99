import { readFileSync } from 'node:fs';
import { openApiDocument } from '../../../api/openapi-document';
import { API_TYPES_FILE, apiTypesSource, typeOf } from '../../../scripts/generate-api-types';

describe('the dashboard\'s API types', () => {
  it('are the ones the OpenAPI document gives (run node scripts/build-dashboard.js after changing a schema)', async () => {
    expect(readFileSync(API_TYPES_FILE, 'utf8')).toBe(apiTypesSource(await openApiDocument()));
  });

  it('read nullable fields, enums, open objects and required fields as the API means them', () => {
    expect(typeOf({ type: 'string', nullable: true })).toBe('string | null');
    expect(typeOf({ type: 'string', enum: ['risk', 'age', null], nullable: true })).toBe('"risk" | "age" | null');
    expect(typeOf({ type: 'array', items: { type: 'integer' } })).toBe('Array<number>');
    expect(typeOf({ type: 'object', required: ['a'], properties: { a: { type: 'boolean' }, b: { type: 'number' } }, additionalProperties: true })).toBe(
      '{\n  a: boolean;\n  b?: number;\n  [field: string]: unknown;\n}',
    );
    expect(typeOf({ type: 'object', additionalProperties: { type: 'number' } })).toBe('{\n  [field: string]: number;\n}');
  });
});
