import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument, type OpenApiDocument } from '../api/openapi-document';
import { projectRoot } from './tool-paths';

/**
 * Writes the dashboard's API types (dashboard/src/model/api-types.ts) from the OpenAPI document, so that they are the
 * replies the routes' schemas define and never a copy kept by hand. scripts/build-dashboard.js runs it before every
 * build; `npx tsx scripts/generate-api-types.ts` runs it alone.
 */

export const API_TYPES_FILE = join(projectRoot, 'dashboard', 'src', 'model', 'api-types.ts');

/** The replies the dashboard reads, by the name it knows them by: the 200 reply of an operation, or a shared schema. */
const REPLIES: Array<{ name: string; get: string } | { name: string; component: string }> = [
  { name: 'Whoami', get: '/whoami' },
  { name: 'Info', get: '/info' },
  { name: 'Health', get: '/health' },
  { name: 'KeyList', get: '/keys' },
  { name: 'KeyDetail', get: '/keys/{name}' },
  { name: 'UsageReply', get: '/keys/{name}/usage' },
  { name: 'RiskReply', get: '/keys/{name}/risk' },
  { name: 'RiskTrendsReply', get: '/risk-trends' },
  { name: 'KeymapNodes', get: '/keymap/nodes' },
  { name: 'EntropyReply', get: '/entropy' },
  { name: 'AlertList', get: '/alerts' },
  { name: 'Problem', component: 'Problem' },
];

/**
 * Objects that stand in more than one place of those replies, written out once under their name (found by the path
 * to one place they stand, array items passed through) and named wherever the same schema stands again.
 */
const SHARED: Array<{ name: string; get: string; path: string[] }> = [
  { name: 'ComponentHealth', get: '/health', path: ['components', 'temporal'] },
  { name: 'KeyPolicy', get: '/keys', path: ['keys', 'policy'] },
  { name: 'Prediction', get: '/keys', path: ['keys', 'prediction'] },
];

/** Parts of those replies the dashboard names on their own. */
const PARTS: Record<string, string> = {
  Role: "Whoami['role']",
  NodeHealth: "Health['nodes'][number]",
  KeyListItem: "KeyList['keys'][number]",
  KeyVersion: "KeyDetail['versions'][number]",
  EntropyProvenance: "NonNullable<KeyVersion['entropyProvenance']>",
  RiskEvaluation: "RiskReply['items'][number]",
  RiskComponent: "RiskEvaluation['components'][number]",
  KeymapNode: "KeymapNodes['nodes'][number]",
  EntropyReport: "EntropyReply['nodes'][number]",
  SourceStatus: "EntropyReport['sources'][number]",
  BatterySummary: "NonNullable<EntropyReport['snapshot']['battery']>",
  Alert: "AlertList['alerts'][number]",
};

interface JsonSchema {
  type?: string | string[];
  nullable?: boolean;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  description?: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const comment = (text: string, indent: string): string => `${indent}/** ${text.replace(/\*\//g, '*\\/').replace(/\s*\n\s*/g, ' ')} */\n`;

/** Names of shared schemas, by their JSON: a schema that is one of them is written as its name. */
type SharedNames = ReadonlyMap<string, string>;

/** The TypeScript type of a JSON Schema, as the API's schemas use it (OpenAPI 3.0: nullable, enums, open objects). */
export function typeOf(schema: JsonSchema, indent = '', shared: SharedNames = new Map()): string {
  const name = shared.get(JSON.stringify(schema));
  if (name !== undefined) return name;
  const base = ((): string => {
    if (schema.$ref) return schema.$ref.replace(/^#\/components\/schemas\//, '').replace(/#$/, '');
    if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    const union = schema.anyOf ?? schema.oneOf;
    if (union) return union.map((member) => parenthesised(typeOf(member, indent, shared))).join(' | ');
    if (schema.allOf) return schema.allOf.map((member) => parenthesised(typeOf(member, indent, shared))).join(' & ');
    const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
    if (types.length > 1) return types.map((type) => typeOf({ ...schema, type, nullable: false }, indent, shared)).join(' | ');
    switch (types[0]) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'null':
        return 'null';
      case 'array':
        return `Array<${schema.items ? typeOf(schema.items, indent, shared) : 'unknown'}>`;
      case 'object':
      case undefined:
        return schema.properties || schema.additionalProperties !== undefined ? objectType(schema, indent, shared) : 'unknown';
      default:
        return 'unknown';
    }
  })();
  return schema.nullable && !/(^| )null( |$)/.test(base) ? `${parenthesised(base)} | null` : base;
}

const parenthesised = (type: string): string => (type.includes(' | ') || type.includes(' & ') ? `(${type})` : type);

function objectType(schema: JsonSchema, indent: string, shared: SharedNames): string {
  const inner = `${indent}  `;
  const required = new Set(schema.required ?? []);
  const lines = Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const key = IDENTIFIER.test(name) ? name : JSON.stringify(name);
    return `${property.description ? comment(property.description, inner) : ''}${inner}${key}${required.has(name) ? '' : '?'}: ${typeOf(property, inner, shared)};\n`;
  });
  const extra = schema.additionalProperties;
  if (extra === true) lines.push(`${inner}[field: string]: unknown;\n`);
  else if (extra && typeof extra === 'object') lines.push(`${inner}[field: string]: ${typeOf(extra, inner, shared)};\n`);
  return lines.length === 0 ? 'Record<string, never>' : `{\n${lines.join('')}${indent}}`;
}

function replySchema(doc: OpenApiDocument, path: string): JsonSchema {
  const content = doc.paths[path]?.get?.responses?.['200']?.content;
  const schema = content?.['application/json']?.schema;
  if (!schema) throw new Error(`the OpenAPI document has no JSON 200 reply for GET ${path}`);
  return schema;
}

/** The schema at `path` below `schema`: through object properties, and through array items on the way. */
function schemaAt(schema: JsonSchema, path: readonly string[], where: string): JsonSchema {
  let found = schema;
  for (const step of path) {
    while (found.items) found = found.items;
    const next = found.properties?.[step];
    if (!next) throw new Error(`the OpenAPI document has no ${path.join('.')} in ${where}`);
    found = next;
  }
  return found;
}

/** The source of dashboard/src/model/api-types.ts for this document. */
export function apiTypesSource(doc: OpenApiDocument): string {
  const shared = SHARED.map(({ name, get, path }) => ({ name, where: `GET ${get} ${path.join('.')}`, schema: schemaAt(replySchema(doc, get), path, `GET ${get}`) }));
  const names: SharedNames = new Map(shared.map(({ name, schema }) => [JSON.stringify(schema), name]));
  const others = (name: string): SharedNames => new Map([...names].filter(([, other]) => other !== name));
  const sharedTypes = shared.map(({ name, where, schema }) => `/** ${where}, and wherever the same schema stands again */\nexport type ${name} = ${typeOf(schema, '', others(name))};\n`);
  const replies = REPLIES.map((reply) => {
    const schema = 'get' in reply ? replySchema(doc, reply.get) : (doc.components?.schemas?.[reply.component] as JsonSchema | undefined);
    if (!schema) throw new Error(`the OpenAPI document has no schema ${reply.name}`);
    const where = 'get' in reply ? `GET ${reply.get}` : `components/schemas/${reply.component}`;
    return `/** ${where} */\nexport type ${reply.name} = ${typeOf(schema, '', names)};\n`;
  });
  const parts = Object.entries(PARTS).map(([name, type]) => `export type ${name} = ${type};\n`);
  return [
    '// Generated by scripts/generate-api-types.ts from the OpenAPI document (GET /openapi.json): do not edit.\n',
    '// The shapes of the API replies the dashboard reads, as the routes\' schemas (api/schemas/) define them.\n\n',
    [...sharedTypes, ...replies].join('\n'),
    '\n',
    parts.join(''),
  ].join('');
}

/** Writes the dashboard's API types when they differ from the document's; says whether it wrote. */
export async function writeApiTypes(): Promise<{ written: boolean }> {
  const source = apiTypesSource(await openApiDocument());
  let current = '';
  try {
    current = readFileSync(API_TYPES_FILE, 'utf8');
  } catch {
    // Not generated yet.
  }
  if (current === source) return { written: false };
  writeFileSync(API_TYPES_FILE, source);
  return { written: true };
}

if (require.main === module) {
  writeApiTypes().then(
    ({ written }) => process.stdout.write(written ? `[api-types] wrote ${API_TYPES_FILE}\n` : '[api-types] up to date\n'),
    (error: unknown) => {
      process.stderr.write(`[api-types] failed: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
