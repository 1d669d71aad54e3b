/** The index of the first of the sorted `items` not before `value` (binary search). */
export function lowerBound(items: readonly string[], value: string): number {
  let [low, high] = [0, items.length];
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((items[mid] as string) < value) low = mid + 1;
    else high = mid;
  }
  return low;
}
