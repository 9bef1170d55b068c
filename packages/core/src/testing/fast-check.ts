// fast-check is an optional peer dependency of @sessionkit/core: only the property tests
// of the conformance suite use it, so a plain install of core does not pull it in. It is
// loaded when a property test runs, and its absence fails that test with what to do.

/** The fast-check module, as the property tests use it. */
export type FastCheck = typeof import('fast-check');

let loading: Promise<FastCheck> | undefined;

/** Loads fast-check once; rejects with an install hint when it is not installed. */
export function loadFastCheck(): Promise<FastCheck> {
  loading ??= import('fast-check').then(
    (module) => module,
    (cause: unknown) => {
      loading = undefined;
      throw new Error(
        "@sessionkit/core/testing: the conformance suite's property tests need fast-check, an optional peer dependency of @sessionkit/core. Install it next to your tests: npm install --save-dev fast-check@^4",
        { cause },
      );
    },
  );
  return loading;
}
