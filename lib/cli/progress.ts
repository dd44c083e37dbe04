// The command-line tool's progress display: one cli-progress bar on stderr, or, when stderr is not a terminal
// (a log file, CI), a plain line at most once a minute, so that an hour-long run redirected to a file still says
// where it is.
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
  /** Whether a bar is drawn at all (false: log prints plainly, update at most writes the occasional plain line). */
  readonly enabled: boolean;
}

export interface ProgressOptions {
  /** Where the bar goes. Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Draw nothing (--quiet, or --json - so that stdout carries JSON only). */
  silent?: boolean;
  /** cli-progress's format string (default: bar, done/total, elapsed, eta, text). */
  format?: string;
  /**
   * Off a terminal: the least time between two plain progress lines, in ms (default 60,000; 0 or less: none).
   * The first comes one interval after the first update, so runs shorter than that print none.
   */
  plainEveryMs?: number;
  /** The clock for plainEveryMs (ms; default performance.now). */
  now?: () => number;
}

/** A progress bar on stderr, drawn only when that stream is a terminal and nothing asked for silence. */
export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const enabled = !options.silent && stream.isTTY === true;
  const plainEveryMs = options.silent || enabled ? 0 : options.plainEveryMs ?? 60_000;
  const now = options.now ?? (() => performance.now());
  let plainStart = NaN;
  let plainLast = NaN;
  let bar: SingleBar | null = null;
  const stop = (): void => {
    if (bar) bar.stop();
    bar = null;
  };
  return {
    enabled,
    update(done, total, text) {
      if (!enabled) {
        if (plainEveryMs > 0) {
          const t = now();
          if (Number.isNaN(plainStart)) plainStart = plainLast = t;
          if (t - plainLast >= plainEveryMs) {
            plainLast = t;
            const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
            stream.write(`progress ${pct}% after ${formatDuration(t - plainStart)} | ${text}\n`);
          }
        }
        return;
      }
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

/** A duration for people: 45,000 ms → "45s", 75,000 → "1m15s", 3,700,000 → "1h01m"; "?" when not known. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
