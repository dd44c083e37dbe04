// Typed-array checks that work across JavaScript realms: `x instanceof Int32Array` is false for an array made in
// another realm (a vm context such as jest's sandbox, or the addon's own realm), so test the tag instead.
const tag = (x: unknown): string => Object.prototype.toString.call(x);

export function isInt32Array(x: unknown): x is Int32Array {
  return ArrayBuffer.isView(x) && tag(x) === '[object Int32Array]';
}

export function isFloat32Array(x: unknown): x is Float32Array {
  return ArrayBuffer.isView(x) && tag(x) === '[object Float32Array]';
}

export function isFloat64Array(x: unknown): x is Float64Array {
  return ArrayBuffer.isView(x) && tag(x) === '[object Float64Array]';
}
