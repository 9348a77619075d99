import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

/**
 * What TypeBox does not write the way the OpenAPI document wants. A field that may be null is `type: [X, "null"]`
 * (OpenAPI 3.0 readers take it as nullable; TypeBox would write an anyOf), and a set of strings is an `enum`.
 */

/** A schema written as plain JSON Schema (the shared bounds of schemas/bounds.ts), with the type it admits. */
export const Json = <T>(schema: object): TUnsafe<T> => Type.Unsafe<T>(schema);

/** The same schema, and null. */
export function Nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  const { type } = schema as { type?: unknown };
  if (typeof type !== 'string') throw new TypeError('Nullable takes a schema of one type');
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] });
}

/** One of `values`; with `nullable`, or null. */
export function StringEnum<const V extends readonly string[]>(values: V, options: { description?: string } = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: 'string', enum: values, ...options });
}

export function NullableStringEnum<const V extends readonly string[]>(values: V, options: { description?: string } = {}): TUnsafe<V[number] | null> {
  return Type.Unsafe<V[number] | null>({ type: ['string', 'null'], enum: [...values, null], ...options });
}

/** An object whose fields the schema leaves open (additionalProperties), with the type the code knows it to have. */
export const OpenObject = <T extends object>(options: { description?: string } = {}): TUnsafe<T> => Type.Unsafe<T>({ type: 'object', additionalProperties: true, ...options });
export const NullableOpenObject = <T extends object>(options: { description?: string } = {}): TUnsafe<T | null> =>
  Type.Unsafe<T | null>({ type: ['object', 'null'], additionalProperties: true, ...options });

/** An object of any keys whose values are `value` (a map keyed by node id, kind, ...). */
export const Dictionary = <T extends TSchema>(value: T, options: { description?: string } = {}): TUnsafe<Record<string, Static<T>>> =>
  Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: value, ...options });

/** A time as the API writes it: ISO 8601 in UTC. */
export const DateTime = (options: { description?: string } = {}) => Type.String({ format: 'date-time', ...options });
export const NullableDateTime = (options: { description?: string } = {}) => Nullable(DateTime(options));
export const NullableString = (options: { description?: string } = {}) => Nullable(Type.String(options));

/** The reply of a DELETE that removed what it names (204). */
export const NoContent = Type.Null();

/** Exactly one of `schemas` (a JSON Schema oneOf, as the document shows it; TypeBox's Union writes an anyOf). */
export const OneOf = <T extends TSchema[]>(schemas: [...T], options: { description?: string } = {}): TUnsafe<Static<T[number]>> =>
  Type.Unsafe<Static<T[number]>>({ oneOf: schemas, ...options });
