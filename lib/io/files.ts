// Output files (run files, reports, state, .npy): written whole or not at all.
import * as fs from 'fs';
import * as path from 'path';

/**
 * Writes a file atomically: the content goes to a temporary file in the same folder, which is then renamed over
 * the target (a rename within one file system is atomic). A failure leaves no temporary file and the old target,
 * if any, untouched.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
