// Shared assertion for coded errors.
import * as dg from '../../lib';

/** Runs fn inside tidy() and expects it to throw an error with `code` whose message matches every pattern. */
export function expectCode(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  let err: (Error & { code?: string }) | null = null;
  try {
    dg.tidy(() => void fn());
  } catch (e) {
    err = e as Error & { code?: string };
  }
  expect(err?.code).toBe(code);
  for (const p of patterns) expect(err!.message).toMatch(p);
}
