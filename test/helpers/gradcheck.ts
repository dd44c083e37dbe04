// A finite-difference gradient checker for the autograd tape.
//
// For f(inputs) → out, a fixed random R (uniform in [−1, 1), one entry per output element, so every
// output element matters) defines the scalar loss L = Σ out ∘ R, built with dg.mul and dg.sum and
// differentiated with dg.backward. Each input's .grad is compared with central differences of L, where
// L(x) is evaluated on the host in float64 from the float32 outputs of repeated forward passes (under
// noGrad) with one input element perturbed at a time: the element is written into the input tensor in place
// (native copyInto) and the exact original values are restored afterwards. gradcheck() makes the inputs
// from host arrays and frees them; gradcheckParams() checks existing tensors such as a module's parameters.
import * as dg from '../../lib';
import { Rng } from './reference';

export interface InputSpec {
  data: Float32Array;
  shape: number[];
  /** Whether this input is a parameter (default true). false: a constant input (its gradient is not checked). */
  grad?: boolean;
}

export interface GradcheckOptions {
  /** Seed for R and for the subset of checked elements. */
  seed?: number;
  /** Elements checked per input: all when the input has at most 1.5× this many, else a random subset (default 30). */
  maxChecks?: number;
  /** Relative step: h = stepScale · max(1, |x|) (default 1e-2). */
  stepScale?: number;
  /** Tolerance overrides: only for ops whose conditioning needs it (say why at the call site). */
  rtol?: number;
  atol?: number;
  /**
   * For functions with kinks (ReLU-type activations in deep models): also evaluate L(x) and skip an element
   * whose forward and backward one-sided slopes differ by more than its tolerance — the function itself is
   * not smooth within ±h there, so no central difference can check it. The count comes back as `skipped`;
   * callers assert it stays a small fraction. Never hides a wrong gradient at a smooth point.
   */
  skipKinks?: boolean;
}

export interface GradcheckResult {
  ok: boolean;
  failures: string[];
  /** Number of (input, element) pairs checked. */
  checked: number;
  /** max |analytic − numeric| / tol over the checked elements (≤ 1 passes): the margin left. */
  worstRatio: number;
  /** Live native tensors after the check minus before (everything made here is freed, so this must be 0). */
  leakedTensors: number;
}

// TOLERANCE, chosen once for every op:
//   |analytic − numeric| ≤ RTOL·|numeric| + ATOL·G,   G = max(0.1, max |numeric| over the checked elements of that input)
// Why this is safe for float32: with h = 1e-2·max(1, |x|), the central difference has truncation error
// h²·|L'''|/6 ≈ 2e-5·|L'''| (relative ~2e-5 for the smooth ops here), and its rounding noise is the change of
// the float32 rounding of the few outputs that depend on the perturbed element, ~1e-7·|out| per output,
// divided by 2h = 2e-2, i.e. ~1e-5 absolute. Both sit two orders of magnitude below RTOL = 1e-2 and
// ATOL = 1e-3 (scaled by the input's gradient size G, so inputs whose gradients are all small, like those
// of mean-type losses, are not checked loosely). A wrong backward rule (sign, missing term, wrong transpose
// or factor) is off by the order of the gradient itself.
export const RTOL = 1e-2;
export const ATOL = 1e-3;

function lossOf(out: Float32Array, R: Float32Array): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * R[i];
  return s;
}

/**
 * Checks the gradients of existing tensors `params` (requiresGrad, e.g. a module's parameters) of
 * L = Σ forward() ∘ R. The numeric side perturbs a parameter's values in place (native copyInto), reruns
 * forward() under noGrad and restores the exact original values afterwards. Leaves the params' .grad set.
 */
export function gradcheckParams(
  name: string,
  params: dg.Tensor[],
  forward: () => dg.Tensor,
  options: GradcheckOptions = {},
): Omit<GradcheckResult, 'leakedTensors'> & { skipped: number } {
  const rng = new Rng(options.seed ?? 12345);
  const maxChecks = options.maxChecks ?? 30;
  const stepScale = options.stepScale ?? 1e-2;
  const rtol = options.rtol ?? RTOL;
  const atol = options.atol ?? ATOL;
  const failures: string[] = [];
  let checked = 0;
  let skipped = 0;
  let worstRatio = 0;

  dg.zeroGrad(params);
  // Analytic gradients from the tape.
  const R = dg.tidy(() => {
    const out = forward();
    if (!out.requiresGrad) throw new Error(`${name}: the output does not require grad`);
    const r = rng.f32(out.size, -1, 1);
    const Rt = dg.tensor(r, out.shape.slice());
    const loss = dg.sum(dg.mul(out, Rt));
    dg.backward(loss);
    return r;
  });

  const evalLoss = (): number => dg.tidy(() => dg.noGrad(() => lossOf(forward().dataF32(), R)));
  const setValues = (p: dg.Tensor, values: Float32Array) =>
    dg.tidy(() => dg.native.copyInto(p.handle, dg.tensor(values, p.shape.slice()).handle));

  params.forEach((x, k) => {
    const label = `${name}: input ${k} [${x.shape}]`;
    if (!x.grad) {
      failures.push(`${label}: .grad is null after backward`);
      return;
    }
    if (x.grad.shape.join() !== x.shape.join()) {
      failures.push(`${label}: .grad has shape [${x.grad.shape}]`);
      return;
    }
    const analytic = x.grad.dataF32();
    const original = x.dataF32();
    const work = Float32Array.from(original);
    const n = original.length;
    const idx = n <= Math.floor(1.5 * maxChecks) ? rng.sample(n, n) : rng.sample(n, maxChecks);
    const numeric: number[] = [];
    const kinkGap: number[] = [];
    try {
      for (const j of idx) {
        const orig = original[j];
        const h = stepScale * Math.max(1, Math.abs(orig));
        work[j] = orig + h;
        const xp = work[j]; // the float32 value actually used
        setValues(x, work);
        const lp = evalLoss();
        work[j] = orig - h;
        const xm = work[j];
        setValues(x, work);
        const lm = evalLoss();
        work[j] = orig;
        numeric.push((lp - lm) / (xp - xm));
        if (options.skipKinks) {
          setValues(x, work);
          const l0 = evalLoss();
          kinkGap.push(Math.abs((lp - l0) / (xp - orig) - (l0 - lm) / (orig - xm)));
        }
      }
    } finally {
      setValues(x, original);
    }
    const G = Math.max(0.1, ...numeric.map(Math.abs));
    idx.forEach((j, q) => {
      checked++;
      const a = analytic[j];
      const nv = numeric[q];
      const tol = rtol * Math.abs(nv) + atol * G;
      if (options.skipKinks && kinkGap[q] > tol) {
        skipped++;
        return;
      }
      worstRatio = Math.max(worstRatio, Number.isNaN(a) ? Infinity : Math.abs(a - nv) / tol);
      if (!(Math.abs(a - nv) <= tol)) {
        failures.push(
          `${label} element ${j}: analytic ${a}, numeric ${nv.toPrecision(6)} (|diff| ${Math.abs(a - nv).toExponential(2)} > tol ${tol.toExponential(2)})`,
        );
      }
    });
  });
  return { ok: failures.length === 0, failures, checked, worstRatio, skipped };
}

/**
 * Gradient check of f at the given inputs: every input with grad !== false becomes a dg.parameter and its
 * .grad is checked. All tensors made here are freed (inputs disposed at the end); leakedTensors says
 * whether anything the ops or the tape made outlived the check.
 */
export function gradcheck(
  name: string,
  f: (inputs: dg.Tensor[]) => dg.Tensor,
  specs: InputSpec[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const before = dg.memory().tensors;
  const inputs = specs.map((s) => {
    const t = dg.tensor(s.data, s.shape);
    return s.grad === false ? dg.keep(t) : dg.parameter(t);
  });
  let result: Omit<GradcheckResult, 'leakedTensors'>;
  try {
    result = gradcheckParams(name, inputs.filter((_, k) => specs[k].grad !== false), () => f(inputs), options);
  } finally {
    for (const t of inputs) t.dispose();
  }
  return { ...result, leakedTensors: dg.memory().tensors - before };
}

/** Throws with the first failures listed (and a count) unless the check passed. */
export function expectGradOk(r: Omit<GradcheckResult, 'leakedTensors'>): void {
  if (r.checked === 0 && r.failures.length === 0) throw new Error('gradcheck checked nothing');
  if (process.env.GRADCHECK_VERBOSE) console.log(`gradcheck: ${r.checked} elements, worst |diff|/tol = ${r.worstRatio.toFixed(4)}`);
  if (!r.ok) {
    const shown = r.failures.slice(0, 6).join('\n  ');
    throw new Error(`gradient check failed (${r.failures.length} of ${r.checked} elements):\n  ${shown}`);
  }
}
