/**
 * Stands in for `@smithy/core/event-streams` in the function bundles (lib/function.ts `BUNDLE_ALIASES`).
 * The SDK loads its event-stream codec with a dynamic import that a single-file bundle inlines (~15 KiB
 * in every function), yet no DynamoDB or KMS operation streams events: the SDK reaches this module only
 * for an operation with an event-stream member, which these clients do not have.
 */
const unsupported = (): never => {
  throw new Error('event streams are not bundled: no DynamoDB or KMS operation uses them');
};

export class EventStreamSerde {
  constructor() {
    unsupported();
  }
}

export const eventStreamSerdeProvider = unsupported;
