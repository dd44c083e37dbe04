// `dgclust report RUN.json [-o report.html] [--png DIR]`: the HTML report of a training run (lib/report), and
// optionally each figure as a PNG. Everything is rendered in memory first and then written file by file
// atomically (temporary file + rename), so a failure leaves no half-written output.
import * as fs from 'fs';
import * as path from 'path';
import { buildReport } from '../report/html';
import type { ReportOptions } from '../report/html';
import { readRunFile } from '../report/run-file';
import { figuresToPng } from '../report/png';
import { writeFileAtomic } from '../io/files';
import { createProgress } from './progress';

export interface ReportCliOptions {
  output?: string;
  png?: string;
  run?: number;
  'map-points'?: number;
  'map-seed'?: number;
}

/** The default output: RUN.json's (or RUN.json.gz's) path with .html instead of .json(.gz). */
export function defaultOutput(file: string): string {
  return /\.json(\.gz)?$/i.test(file) ? file.replace(/\.json(\.gz)?$/i, '.html') : `${file}.html`;
}

/** Renders a run's report and writes it (and the PNGs when pngDir is given). Returns the files written. */
export async function writeReportFile(run: unknown, output: string, options: ReportOptions & { pngDir?: string; out?: (text: string) => void; quiet?: boolean }): Promise<string[]> {
  const bar = createProgress({ silent: options.quiet });
  let built;
  try {
    built = await buildReport(run, {
      ...options,
      onProgress: options.onProgress ?? ((text) => {
        const m = /^embedding map: (\d+)\/(\d+) epochs$/.exec(text);
        if (m) bar.update(Number(m[1]), Number(m[2]), 'embedding map (UMAP)');
        else console.error(text);
      }),
    });
  } finally {
    bar.stop();
  }
  for (const w of built.warnings) console.error(`report: warning: ${w}`);
  const pngs = options.pngDir !== undefined ? figuresToPng(built.figures) : [];
  const written: string[] = [];
  if (options.pngDir !== undefined) {
    fs.mkdirSync(options.pngDir, { recursive: true });
    for (const p of pngs) {
      const file = path.join(options.pngDir, `${p.id}.png`);
      writeFileAtomic(file, p.png);
      written.push(file);
    }
  }
  if (output === '-') {
    (options.out ?? ((t: string) => process.stdout.write(t)))(built.html);
  } else {
    writeFileAtomic(output, built.html);
    written.push(output);
  }
  return written;
}

export async function reportCommand(file: string, o: ReportCliOptions, ctx: { quiet: boolean; out: (line: string) => void }): Promise<void> {
  const run = readRunFile(file);
  const output = o.output ?? defaultOutput(file);
  const written = await writeReportFile(run, output, {
    baseDir: path.dirname(path.resolve(file)),
    source: file,
    run: o.run,
    mapPoints: o['map-points'],
    mapSeed: o['map-seed'],
    pngDir: o.png,
    out: ctx.out,
    quiet: ctx.quiet || output === '-',
  });
  for (const f of written) console.error(`wrote ${f}`);
}
