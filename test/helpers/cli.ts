// Runs the dgclust CLI in-process, as `dgclust ARGS…` would, with what it prints captured instead of shown.
import { main } from '../../lib/cli/main';

export interface CliResult {
  /** The exit code main() resolved to. */
  code: number;
  /** console.log lines, joined by newlines. */
  out: string;
  /** console.error lines, joined by newlines. */
  err: string;
}

export async function runCli(args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    return { code: await main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
