// The command-line tool's progress display: one cli-progress bar on stderr.
//
// cli-progress (a well-kept, widely used bar) is used as a SingleBar, not a MultiBar: training runs
// synchronously between epochs, so the event loop (and with it any redraw timer) is blocked; a SingleBar also
// redraws synchronously from update(), which is what a blocked loop needs. Messages printed while the bar is
// up go through log(), which clears the bar's line, prints the message and redraws the bar below it.
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  /** Work done out of total, with a short text (current phase, loss, …). Starts the bar on first use. */
  update(done: number, total: number, text: string): void;
  /** Prints a line on the bar's stream without tearing the bar (or plainly, when no bar is up). */
  log(line: string): void;
  /** Ends the bar (leaves its last state on screen, moves to a new line). Safe to call twice. */
  stop(): void;
  /** Whether a bar is drawn at all (false: every call but log is a no-op). */
  readonly enabled: boolean;
}

export interface ProgressOptions {
  /** Where the bar goes. Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Draw nothing (--quiet, or --json - so that stdout carries JSON only). */
  silent?: boolean;
  /** cli-progress's format string (default: bar, done/total, elapsed, eta, text). */
  format?: string;
}

/** A progress bar on stderr, drawn only when that stream is a terminal and nothing asked for silence. */
export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const enabled = !options.silent && stream.isTTY === true;
  let bar: SingleBar | null = null;
  const stop = (): void => {
    if (bar) bar.stop();
    bar = null;
  };
  return {
    enabled,
    update(done, total, text) {
      if (!enabled) return;
      if (!bar) {
        bar = new SingleBar({
          stream,
          format: options.format ?? '{bar} {value}/{total} | {duration_formatted}, eta {eta_formatted} | {text}',
          barsize: 30,
          hideCursor: true,
          // Redraw on every synchronous update even when the text did not change: log() clears the line.
          forceRedraw: true,
          etaBuffer: 20,
          linewrap: false,
          gracefulExit: true,
        }, Presets.shades_classic);
        bar.start(total, 0, { text: '' });
      }
      bar.setTotal(total);
      bar.update(done, { text });
      if (done >= total) stop();
    },
    log(line) {
      if (!bar) {
        stream.write(`${line}\n`);
        return;
      }
      stream.write(`\r\x1b[2K${line}\n`);
      bar.render();
    },
    stop,
  };
}
