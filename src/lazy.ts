/**
 * A value made on first use and shared by every caller from then on (a module loaded, a client
 * built, a document fetched). A failure is not kept: the next call tries again.
 */
export function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () =>
    (made ??= Promise.resolve()
      .then(make)
      .catch((error: unknown) => {
        made = undefined;
        throw error;
      }));
}
