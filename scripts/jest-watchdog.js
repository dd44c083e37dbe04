// A jest reporter that turns a hung test file into a prompt failure naming it.
//
// Why: jest's own testTimeout cannot fire while a test is blocked inside a synchronous native call (the
// worker's event loop never runs again), so a native hang used to sit until CI's clock ran out with no hint
// of where. Reporters run in jest's parent process, whose event loop stays free while the test files run in
// worker processes: this one starts a timer per file and, if a file runs longer than its limit, prints the
// file and the last test case that started in it, then kills the run (exit code 3).
//
// Limit per file: DGCLUST_TEST_FILE_TIMEOUT seconds (default 600). When jest runs in band (a single file), the
// tests share this process and a native hang would block the timer too: .ci/run also wraps jest in `timeout`.
const path = require('path');

class WatchdogReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.limitS = Number(process.env.DGCLUST_TEST_FILE_TIMEOUT || 600);
    this.timers = new Map();
    this.lastCase = new Map();
  }

  onTestFileStart(test) {
    const file = test.path;
    const started = Date.now();
    const timer = setTimeout(() => {
      const rel = path.relative(this.rootDir, file);
      const last = this.lastCase.get(file);
      process.stderr.write(
        `\njest watchdog: ${rel} has run for ${Math.round((Date.now() - started) / 1000)} s ` +
          `(limit ${this.limitS} s, DGCLUST_TEST_FILE_TIMEOUT)` +
          (last ? `; last test started: "${last}"` : '') +
          `. Treating it as a hang and stopping the run.\n`,
      );
      // The hung worker cannot answer jest's shutdown message: kill this process's children first.
      try {
        require('child_process').execSync(`pkill -KILL -P ${process.pid}`, { stdio: 'ignore' });
      } catch (_) {
        // no pkill, or no child left: exiting is still right
      }
      process.exit(3);
    }, this.limitS * 1000);
    timer.unref();
    this.timers.set(file, timer);
  }

  onTestCaseStart(test, testCaseStartInfo) {
    if (testCaseStartInfo && testCaseStartInfo.fullName) this.lastCase.set(test.path, testCaseStartInfo.fullName);
  }

  onTestFileResult(test) {
    clearTimeout(this.timers.get(test.path));
    this.timers.delete(test.path);
    this.lastCase.delete(test.path);
  }
}
module.exports = WatchdogReporter;
