/**
 * What a store can do. A method whose capability is `false` rejects with
 * `UNSUPPORTED` (except `cleanupExpired`, which resolves `0` when `cleanup` is false).
 */
export interface StoreCapabilities {
  /** `listByUser` works. */
  readonly list: boolean;
  /** `delete` works. */
  readonly revoke: boolean;
  /** `deleteByUser` works. */
  readonly revokeUser: boolean;
  /** `update`, `extend` and `touch` work. */
  readonly mutate: boolean;
  /** `cleanupExpired` removes anything (when false it always resolves 0). */
  readonly cleanup: boolean;
  /** `create` accepts a caller-chosen `record.id`. */
  readonly customIds: boolean;
}

/** Every capability: what a server-side store is expected to declare. */
export const ALL_CAPABILITIES: StoreCapabilities = Object.freeze({
  list: true,
  revoke: true,
  revokeUser: true,
  mutate: true,
  cleanup: true,
  customIds: true,
});
