// Jest transform: ts-jest, plus module-local bindings for the JavaScript built-ins (Math, Float32Array, …).
//
// Why: jest runs every test file and every module it imports inside a `vm` context. In Node 20 that context's
// global object is an interceptor-backed proxy of the sandbox, and V8 cannot cache a lookup through it: each
// `Math.abs`, `Float64Array` or `Number.isFinite` that resolves to a global costs ~0.4 µs instead of ~1 ns. A
// float64 reference loop over 11.5 M gradient entries took 9 s under jest and 0.17 s under plain node (measured on
// 2026-12-07; the same loop with `const M = Math` hoisted out ran in 0.15 s inside the vm). The metrics, k-means
// bookkeeping, loaders and the tests' reference implementations are such loops. Node 22's
// `vm.constants.DONT_CONTEXTIFY` removes the cause; on Node 20 we bind the built-ins once per module, as
// `const Math = globalThis.Math;` on the module's first line (after "use strict", so strict mode and line numbers
// are unchanged). They are the same objects, so `jest.spyOn(Math, 'random')` and friends still work; names a module
// declares itself are skipped. Timer and clock globals (Date, setTimeout, …) are left alone: fake timers replace
// them on the global.
const { TsJestTransformer } = require('ts-jest');

const BUILTINS = [
  'Math', 'Number', 'Object', 'Array', 'String', 'Boolean', 'Symbol', 'JSON', 'Map', 'Set', 'WeakMap', 'Promise',
  'Error', 'TypeError', 'RangeError', 'RegExp', 'ArrayBuffer', 'DataView', 'Float32Array', 'Float64Array',
  'Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigInt',
  'Infinity', 'NaN', 'isFinite', 'isNaN', 'parseInt', 'parseFloat',
];
const VERSION = 'fast-globals-1';

function bindBuiltins(code) {
  const declared = (name) => new RegExp(`(^|[^.\\w$])(const|let|var|function|class)\\s+${name}\\b`).test(code);
  const names = BUILTINS.filter((n) => !declared(n));
  const line = `const { ${names.join(', ')} } = globalThis;`;
  const strict = /^(\s*["']use strict["'];?)/.exec(code);
  return strict ? `${strict[1]} ${line}${code.slice(strict[1].length)}` : `${line} ${code}`;
}

class FastGlobalsTransformer extends TsJestTransformer {
  process(sourceText, sourcePath, options) {
    const out = super.process(sourceText, sourcePath, options);
    return typeof out === 'string' ? bindBuiltins(out) : { ...out, code: bindBuiltins(out.code) };
  }

  async processAsync(sourceText, sourcePath, options) {
    const out = await super.processAsync(sourceText, sourcePath, options);
    return typeof out === 'string' ? bindBuiltins(out) : { ...out, code: bindBuiltins(out.code) };
  }

  getCacheKey(sourceText, sourcePath, options) {
    return `${super.getCacheKey(sourceText, sourcePath, options)}:${VERSION}`;
  }

  async getCacheKeyAsync(sourceText, sourcePath, options) {
    return `${await super.getCacheKeyAsync(sourceText, sourcePath, options)}:${VERSION}`;
  }
}

module.exports = {
  createTransformer: (tsJestConfig) => new FastGlobalsTransformer(tsJestConfig),
};
