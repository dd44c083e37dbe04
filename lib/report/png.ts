// PNG copies of the report's figures, rasterized from their SVG by resvg (@resvg/resvg-js: the Rust SVG renderer
// with prebuilt N-API binaries on npm, so no browser and no compiler). It is an optional dependency, loaded only
// when PNGs are asked for. Text needs a system font (Debian: fonts-dejavu-core); 'sans-serif' maps to DejaVu Sans.
import { DgcError } from '../tensor';
import type { Figure } from './figures';

interface ResvgModule {
  Resvg: new (svg: string, options: Record<string, unknown>) => { render(): { asPng(): Buffer; width: number; height: number } };
}

function loadResvg(): ResvgModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@resvg/resvg-js') as ResvgModule;
  } catch (err) {
    throw new DgcError('DGC_ARG', `PNG output needs the optional package @resvg/resvg-js, which is not installed or has no binary for ${process.platform}-${process.arch} ` +
      `(npm install @resvg/resvg-js): ${(err as Error).message.split('\n')[0]}`);
  }
}

export interface Png {
  /** The figure's id: the file is `${id}.png`. */
  id: string;
  png: Buffer;
  width: number;
  height: number;
}

/** Each figure as a PNG at `scale` times its SVG size (default 2, sharp on high-density screens and in print). */
export function figuresToPng(figures: Figure[], scale = 2): Png[] {
  const { Resvg } = loadResvg();
  return figures.map((f) => {
    const image = new Resvg(f.svg, {
      fitTo: { mode: 'zoom', value: scale },
      background: 'white',
      font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    }).render();
    return { id: f.id, png: image.asPng(), width: image.width, height: image.height };
  });
}
