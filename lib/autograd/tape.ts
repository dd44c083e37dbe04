// Autodiff-lite: reverse mode over the graph recorded by the ops in ../ops.ts.
//
// An op whose inputs include a tensor that requires grad records a GradNode on its output (record()).
// backward(loss) orders the recorded nodes (reverse topological order from the loss, i.e. the tape read
// backwards), runs each node's backward once, accumulates gradients, leaves them in `.grad` of the leaf
// tensors (parameters), frees every intermediate gradient and the tensors nodes saved for backward, and
// cuts the graph so nothing recorded outlives the step.
import { DgcError, GradNode, Tensor, keep } from '../tensor';
import { native } from '../native';

let recording = true;

/** True while ops record the graph (outside noGrad()). */
export function isRecording(): boolean {
  return recording;
}

/** Runs fn without recording the graph (evaluation, optimizer steps). */
export function noGrad<T>(fn: () => T): T {
  const prev = recording;
  recording = false;
  try {
    return fn();
  } finally {
    recording = prev;
  }
}

/** Records how `output` was computed from `inputs`, if any input requires grad. Returns output. */
export function record(
  output: Tensor,
  name: string,
  inputs: readonly Tensor[],
  backward: (gradOutput: Tensor) => (Tensor | null)[],
  saved?: readonly Tensor[],
): Tensor {
  if (!recording || !inputs.some((t) => t.requiresGrad)) {
    if (saved) for (const s of saved) s.dispose();
    return output;
  }
  output.requiresGrad = true;
  const node: GradNode = { name, inputs, backward, saved };
  output.gradFn = node;
  return output;
}

/** Reverse topological order of the tensors that require grad and lead to `root` (root first). */
function reverseTopologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative post-order DFS: a graph of thousands of ops must not overflow the JS stack.
  const stack: { t: Tensor; next: number }[] = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.t.graphFreed) {
      throw new DgcError(
        'DGC_ARG',
        `backward: ${top.t === root ? 'this tensor' : 'a tensor it depends on'} was computed by a graph that an earlier backward() already freed; recompute it, or detach() it`,
      );
    }
    const inputs = top.t.gradFn ? top.t.gradFn.inputs : [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order.reverse();
}

export interface BackwardOptions {
  /**
   * Free the values of each intermediate tensor of the graph (and what its node saved for backward) as soon as
   * the backward pass is done with them — right after the tensor's own node has run, since every node that
   * reads it comes earlier in the reverse topological order — instead of when the caller's tidy() ends. This is
   * what PyTorch does with a graph's saved tensors: a step's peak memory then falls from "every activation plus
   * the backward's transients" to roughly "every activation" (by the time the early layers' backward runs, the
   * late layers' activations are gone). Not freed: the loss, leaves, and tensors marked with keep(). Only for a
   * caller that reads no intermediate after backward (the trainer: it reads the loss parts before the step and
   * keep()s the evaluated outputs); reading a freed tensor afterwards fails with DGC_DISPOSED.
   */
  freeIntermediates?: boolean;
}

/**
 * Computes the gradient of `loss` with respect to every leaf that requires grad and adds it to the leaf's
 * `.grad` (which is kept: it survives tidy(); optimizers and zeroGrad() manage it). `loss` must hold one
 * element unless `gradOutput` is given. Frees all intermediate gradients and cuts the recorded graph.
 */
export function backward(loss: Tensor, gradOutput?: Tensor, options: BackwardOptions = {}): void {
  if (loss.disposed) throw new DgcError('DGC_DISPOSED', 'backward: the loss tensor is disposed');
  if (!loss.requiresGrad) {
    throw new DgcError(
      'DGC_ARG',
      'backward: the loss does not require grad (no parameter took part in computing it, or it was computed under noGrad)',
    );
  }
  if (!gradOutput && loss.size !== 1) {
    throw new DgcError('DGC_SHAPE', `backward: loss has shape [${loss.shape}]; give gradOutput for a non-scalar loss`);
  }
  if (gradOutput && gradOutput.shape.join() !== loss.shape.join()) {
    throw new DgcError('DGC_SHAPE', `backward: gradOutput [${gradOutput.shape}] does not match loss [${loss.shape}]`);
  }

  const order = reverseTopologicalOrder(loss);
  const grads = new Map<Tensor, Tensor>();
  // Reference counts of gradient tensors: a backward may pass its incoming gradient through unchanged
  // (add, bias), so one tensor can be the gradient of several inputs. It is freed when no one holds it.
  const refs = new Map<Tensor, number>();
  const acquire = (t: Tensor) => refs.set(t, (refs.get(t) ?? 0) + 1);
  const release = (t: Tensor) => {
    const n = (refs.get(t) ?? 0) - 1;
    if (n <= 0) {
      refs.delete(t);
      t.dispose();
    } else refs.set(t, n);
  };

  const prev = recording;
  recording = false;
  // The gradient being propagated right now: taken out of `grads`, so the error path must free it itself.
  let inFlight: Tensor | null = null;
  try {
    const seed = gradOutput
      ? new Tensor(native.clone(gradOutput.handle))
      : new Tensor(native.full(loss.shape.slice(), 1, 'float32', loss.device));
    grads.set(loss, seed);
    acquire(seed);

    // After t's own node has run (or was skipped for want of a gradient), no later backward reads t: free it.
    const freeEarly = options.freeIntermediates === true;
    const done = (t: Tensor) => {
      if (!freeEarly || !t.gradFn || t === loss || t.kept) return;
      const saved = t.gradFn.saved;
      if (saved) for (const s of saved) s.dispose();
      if (!t.disposed) t.handle.dispose();
    };

    for (const t of order) {
      const g = grads.get(t);
      if (!g) {
        done(t);
        continue;
      }
      grads.delete(t);
      inFlight = g;
      const node = t.gradFn;
      if (!node) {
        // A leaf: hand the gradient over to .grad.
        let owned: Tensor;
        if (refs.get(g) === 1) {
          refs.delete(g);
          owned = g;
        } else {
          owned = new Tensor(native.clone(g.handle));
          release(g);
        }
        if (t.grad && !t.grad.disposed) {
          const sum = new Tensor(native.binary('add', t.grad.handle, owned.handle));
          t.grad.dispose();
          owned.dispose();
          owned = sum;
        }
        t.grad = keep(owned);
        inFlight = null;
        continue;
      }
      const inputGrads = node.backward(g);
      if (inputGrads.length !== node.inputs.length) {
        throw new DgcError('DGC_INTERNAL', `backward of ${node.name} returned ${inputGrads.length} gradients for ${node.inputs.length} inputs`);
      }
      // A backward may return one tensor for several inputs (add, axpby with equal weights): take a reference
      // for each use before any accumulation below can release it.
      for (let i = 0; i < node.inputs.length; i++) {
        const gi = inputGrads[i];
        if (gi && node.inputs[i].requiresGrad) acquire(gi);
      }
      for (let i = 0; i < node.inputs.length; i++) {
        const input = node.inputs[i];
        const gi = inputGrads[i];
        if (!gi) continue;
        if (!input.requiresGrad) {
          if (!refs.has(gi) && gi !== g) gi.dispose();
          continue;
        }
        const existing = grads.get(input);
        if (existing) {
          const sum = new Tensor(native.binary('add', existing.handle, gi.handle));
          acquire(sum);
          release(existing);
          release(gi);
          grads.set(input, sum);
        } else {
          grads.set(input, gi);
        }
      }
      release(g);
      inFlight = null;
      done(t);
    }
  } finally {
    recording = prev;
    // Free what is left (only on an error path) and cut the graph, freeing what nodes saved for backward.
    if (inFlight && !inFlight.kept) inFlight.dispose();
    for (const g of grads.values()) if (!g.kept) g.dispose();
    for (const t of order) {
      const node = t.gradFn;
      if (!node) continue;
      if (node.saved) for (const s of node.saved) s.dispose();
      t.gradFn = null;
      t.graphFreed = true;
    }
  }
}

/**
 * Frees the values of an intermediate tensor that no recorded backward reads — e.g. H·W of a GCN layer once
 * Â·(H·W) is computed (SpMM's backward needs only Â, and the product's needs H and W) — while keeping it a node
 * of the recorded graph, so gradients still flow through it. Reading it afterwards fails with DGC_DISPOSED. For
 * library code that made the tensor and is its only user: this is what frees it before the end of the step.
 */
export function freeValues(t: Tensor): void {
  t.handle.dispose();
}

/** Sets `.grad` of the given tensors to null, freeing it. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    if (p.grad) {
      p.grad.dispose();
      p.grad = null;
    }
  }
}
