/**
 * Polls `check` until it returns a truthy value and resolves with it; a throw counts as "not
 * yet". Rejects after `timeoutMs` with an error naming `what` and the last error seen.
 *
 *   const pid = await waitFor(() => cluster.managerPid(), 'the manager to come back', 60_000);
 *
 * In a vitest test where the condition is an assertion, `expect.poll(fn).toBe(...)` does the same.
 */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  what: string,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
