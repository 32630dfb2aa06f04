import { describe, expect, it } from 'vitest';
import { boundHeapGrowth } from '../../src/memory.js';

describe('the memory policy', () => {
  it("leaves V8's heap growth to the operator who chose one", () => {
    expect(boundHeapGrowth('--heap-growing-percent=50', [])).toBe(false);
    expect(boundHeapGrowth('--enable-source-maps --heap_growing_percent=0', [])).toBe(false);
    expect(boundHeapGrowth(undefined, ['--heap-growing-percent', '30'])).toBe(false);
  });

  it('sets it otherwise, whatever else NODE_OPTIONS says', () => {
    expect(boundHeapGrowth(undefined, [])).toBe(true);
    expect(boundHeapGrowth('--max-old-space-size=512 --enable-source-maps', ['--import', 'tsx'])).toBe(true);
  });
});
