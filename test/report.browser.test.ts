// The report in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core) opens the page
// that `dgclust report` writes for a DFCN run on ACM, with no console error and no network request; every figure
// is an SVG of visible size with marks in it; a screenshot of the whole page (and of each figure) is kept in
// test-artifacts/ (git-ignored) for people to look at.
//
// Skips visibly (one test that says "skipped: no headless Chromium (…)") where no browser is installed: .ci/run
// installs Debian's chromium when it can (root and apt-get); set DGCLUST_CHROMIUM to use another binary.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { makeRunFixture } from './helpers/run-fixture';

const candidates = [process.env.DGCLUST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((x): x is string => !!x);
const executablePath = candidates.find((p) => fs.existsSync(p)) ?? null;
const describeBrowser = executablePath ? describe : describe.skip;
const artifacts = path.join(__dirname, '..', 'test-artifacts');

test(executablePath ? `headless Chromium is at ${executablePath}` : 'skipped: no headless Chromium', () => {
  if (!executablePath) console.log(`skipped: no headless Chromium (sought ${candidates.join(', ')}; .ci/run installs Debian's chromium, or set DGCLUST_CHROMIUM)`);
});

describeBrowser('the report page in headless Chromium', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-report-browser-'));
  const html = path.join(dir, 'report.html');
  let browser: import('playwright-core').Browser;

  beforeAll(async () => {
    const { json } = await makeRunFixture(dir, { epochs: 3, seeds: 2 });
    const error = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['report', json, '-o', html, '--quiet'])).toBe(0);
    } finally {
      error.mockRestore();
    }
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: executablePath!,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('opens without console errors or requests; every figure is a non-empty SVG with marks; screenshots', async () => {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 }, deviceScaleFactor: 1 });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file://')) requests.push(r.url());
    });
    const url = `file://${html}`;
    await page.goto(url, { waitUntil: 'load' });
    expect(problems).toEqual([]);
    expect(requests).toEqual([]); // self-contained: nothing but the file itself is loaded

    // Nothing that could load: no script, stylesheet link, image, font or iframe.
    expect(await page.locator('script, link, img, iframe, object, embed').count()).toBe(0);
    expect(await page.title()).toBe('DFCN on acm — dgclust report');

    // Each figure: an SVG drawn at a visible size, with the marks it must have.
    const marks = async (id: string, selector: string): Promise<number> => page.locator(`#fig-${id} svg ${selector}`).count();
    for (const id of ['metrics', 'losses', 'embedding', 'confusion', 'sizes']) {
      const svg = page.locator(`#fig-${id} svg`).first();
      await expect(svg.count()).resolves.toBe(1);
      const box = await svg.boundingBox();
      expect(box).not.toBeNull();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.height).toBeGreaterThan(100);
      expect(await marks(id, '.role-mark')).toBeGreaterThan(0);
    }
    // 4 metric panels × 2 seeds: 8 lines; DFCN's five loss terms × 2 seeds: 10 lines.
    expect(await marks('metrics', '.mark-line.role-mark path')).toBe(8);
    expect(await marks('losses', '.mark-line.role-mark path')).toBe(10);
    // ACM: 3025 points in each of the two panels (predicted, truth).
    expect(await marks('embedding', '.mark-symbol.role-mark path')).toBe(2 * 3025);
    // 3 classes × 3 clusters: 9 cells, 9 counts.
    expect(await marks('confusion', '.mark-rect.role-mark path')).toBe(9);
    expect(await marks('confusion', '.mark-text.role-mark text')).toBe(9);
    // 3 matched pairs: 6 bars.
    expect(await marks('sizes', '.mark-rect.role-mark path')).toBe(6);

    // Nothing is clipped horizontally: the page is no wider than the window.
    // (a string: this project's TypeScript has no DOM types)
    const widths = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as number[];
    expect(widths[0]).toBeLessThanOrEqual(widths[1]);

    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'report.png'), fullPage: true });
    for (const id of ['metrics', 'losses', 'embedding', 'confusion', 'sizes']) {
      await page.locator(`#fig-${id}`).screenshot({ path: path.join(artifacts, `report-${id}.png`) });
    }
    expect(fs.statSync(path.join(artifacts, 'report.png')).size).toBeGreaterThan(50_000);
    await page.close();
  }, 120_000);
});
