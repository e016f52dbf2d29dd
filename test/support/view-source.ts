// A ViewSource for unit tests of the serving layer: one instance, no members, every key absent and
// served locally, ready; any part overridden.
import type { ViewSource } from '../../src/serving/view-source.js';

export function stubViewSource(overrides: Partial<ViewSource> = {}): ViewSource {
  return {
    endpoint: '127.0.0.1:1',
    lookup: () => ({ kind: 'local', partition: 0, value: undefined }),
    isMember: () => false,
    readiness: () => ({ ready: true }),
    ...overrides,
  };
}
