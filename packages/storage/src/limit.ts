import pLimit from 'p-limit';

/** How many requests a batch keeps in flight, unless its caller says otherwise. */
const DEFAULT_CONCURRENCY = 16;

/** `fn` of every item, at most `concurrency` at a time; the results in the items' order. */
export function mapLimited<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
  concurrency = DEFAULT_CONCURRENCY,
): Promise<R[]> {
  const limit = pLimit(concurrency);
  return Promise.all(items.map((item) => limit(() => fn(item))));
}
