import { Type, type Static } from '@sinclair/typebox';
import { DateTime } from './typebox';

/** A webhook subscription to key rotations, as listed: never its secret, which only the reply that creates it shows. */
export const SubscriptionSchema = Type.Object({ id: Type.String({ format: 'uuid' }), url: Type.String(), createdAt: DateTime(), createdBy: Type.String() });

export const SubscribeBodySchema = Type.Object(
  { url: Type.String({ pattern: '^https?://[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$', maxLength: 2000 }) },
  { additionalProperties: false },
);
export type SubscribeBody = Static<typeof SubscribeBodySchema>;

export const SubscribedSchema = Type.Object({ subscription: SubscriptionSchema, secret: Type.String() });
export const SubscriptionListSchema = Type.Object({ subscriptions: Type.Array(SubscriptionSchema) });
