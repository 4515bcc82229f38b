/** The error `promise` was rejected with; a promise that resolves fails the test. */
export async function refusal<E = Error>(promise: Promise<unknown>): Promise<E> {
  return promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: unknown) => error as E,
  );
}
