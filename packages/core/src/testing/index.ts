export type {
  ConformanceRunner,
  ConformanceStoreOptions,
  ConformanceTestFn,
  DescribeSessionStoreOptions,
} from './types.js';
import type { SessionStore } from '../store.js';
import type { DescribeSessionStoreOptions } from './types.js';

/** The conformance suite (being written: this placeholder fails on purpose). */
export function describeSessionStore<S extends SessionStore>(options: DescribeSessionStoreOptions<S>): void {
  options.runner.describe(options.name, () => {
    options.runner.it('conformance suite is not written yet', async () => {
      throw new Error('the conformance suite has not landed yet');
    });
  });
}
