// Prints one line per op, "<name> <digest>", for the ops the models train with: forward values and every gradient
// on fixed data (a small LCG, no native RNG). test/isa.test.ts runs it natively with the AVX2 kernel sets forced and
// under valgrind (a virtual CPU without AVX-512) and compares the lines. Plain JavaScript on dist/ (argv[2] is the
// path of dist/lib): valgrind runs node with --jitless, far too slow for ts-node.
'use strict';
const crypto = require('crypto');
const dg = require(process.argv[2]);

dg.setNumThreads(1);
let state = 20261207;
const rnd = () => {
  state = (state * 1103515245 + 12345) % 2147483648;
  return (state / 2147483648) * 2 - 1;
};
const data = (size, scale = 1) => Float32Array.from({ length: size }, () => scale * rnd());
const param = (shape, scale = 1) => dg.parameter(dg.tensor(data(shape.reduce((a, b) => a * b, 1), scale), shape));
const constant = (shape, scale = 1) => dg.tensor(data(shape.reduce((a, b) => a * b, 1), scale), shape);
const probabilities = (n, k) => dg.noGrad(() => dg.softmax(constant([n, k], 2)));

// Forward value(s) and the gradients of every parameter of a loss built from them (sum of the first output).
function check(name, shapes, fn) {
  const params = shapes.map(([shape, scale]) => param(shape, scale));
  const out = fn(...params);
  const outs = Array.isArray(out) ? out : [out];
  if (outs[0].requiresGrad) dg.backward(outs[0].size === 1 ? outs[0] : dg.sum(outs[0]));
  const hash = crypto.createHash('sha256');
  for (const t of [...outs, ...params.map((p) => p.grad).filter(Boolean)]) hash.update(Buffer.from(t.data().buffer));
  console.log(`${name} ${hash.digest('hex').slice(0, 24)}`);
}

const n = 120;
const graph = (() => {
  const src = [], dst = [];
  for (let i = 0; i < n; i++) for (let e = 0; e < 4; e++) { src.push(i); dst.push(Math.floor((rnd() * 0.5 + 0.5) * n) % n); }
  return dg.SparseMatrix.fromEdges(n, src, dst, { normalization: 'row' });
})();

// GEMM through every pack path at kernel sizes (the direct loops take products under 32,768 multiply-adds).
check('matmul NN', [[[n, 70]], [[70, 90]]], (a, b) => dg.matmul(a, b));
check('matmul TN', [[[70, n]], [[70, 90]]], (a, b) => dg.matmul(a, b, { transA: true }));
check('matmul NT', [[[n, 70]], [[90, 70]]], (a, b) => dg.matmul(a, b, { transB: true }));
check('matmul skinny', [[[n, 300]], [[300, 10]]], (a, b) => dg.matmul(a, b));
check('linear + leakyRelu', [[[n, 40]], [[40, 70]], [[70]]], (x, w, b) => dg.leakyRelu(dg.biasAdd(dg.matmul(x, w), b), 0.2));
check('tanh, sigmoid, softmax, logSoftmax', [[[n, 30], 3]], (x) => dg.add(dg.add(dg.tanh(x), dg.sigmoid(x)), dg.add(dg.softmax(x), dg.logSoftmax(x))));
check('spmm', [[[n, 24]]], (h) => graph.matmul(h));
check('mse, bceWithLogits', [[[n, 20]]], (x) => dg.add(dg.mse(x, constant([n, 20])), dg.bceWithLogits(x, dg.noGrad(() => dg.sigmoid(constant([n, 20]))))));
check('studentT', [[[n, 16], 3], [[6, 16], 3]], (z, mu) => dg.studentT(z, mu));
check('klStudentTSelf', [[[n, 16], 3], [[6, 16], 3]], (z, mu) => { const r = dg.klStudentTSelf(z, mu); return [r.loss, r.q, r.p]; });
check('klStudentT', [[[n, 16], 3], [[6, 16], 3]], (z, mu) => dg.klStudentT(z, mu, probabilities(n, 6)));
check('focalStudentT', [[[n, 16], 3], [[6, 16], 3]], (z, mu) => dg.focalStudentT(z, mu, probabilities(n, 6), { gamma: 2 }));
check('selfCorrelation', [[[n, 20]]], (z) => dg.selfCorrelation(z));
check('attention, 2 heads', [[[n, 32]], [[n, 32]], [[n, 32]]], (q, k, v) => dg.attention(q, k, v, { heads: 2 }));
check('gramSigmoidMse', [[[n, 10]], [[n, 10]]], (a, b) => dg.gramSigmoidMse(graph, a, b));
check('gramSigmoidBce', [[[n, 10]]], (z) => dg.gramSigmoidBce(graph, z));
check('attentionFusion sum', [[[n, 37]], [[n, 37]], [[2, 74], 0.3], [[2], 0.1]], (a, b, w, c) => dg.attentionFusion([a, b], w, c, { mode: 'sum' }).out);
check('attentionFusion concat', [[[n, 13]], [[n, 29]], [[n, 3]], [[3, 45], 0.3], [[3], 0.1]], (a, b, c, w, v) => dg.attentionFusion([a, b, c], w, v, { mode: 'concat' }).out);
check('pairAffinity', [[[64, 10], 2]], (y) => dg.pairAffinity(y));
check('cdcCorrelationLoss', [[[64, 10], 2], [[64, 37]]], (a, b) => dg.cdcCorrelationLoss(a, b));
check('rowKlClipped', [[[64, 10], 2]], (y) => { const a = dg.pairAffinity(y); return dg.rowKlClipped(a, dg.noGrad(() => dg.pairAffinity(constant([64, 10], 2)))); });
check('cdcPairLoss, row and global', [[[64, 10], 2], [[64, 37]]], (a, b) =>
  dg.add(dg.cdcPairLoss(a, b), dg.cdcPairLoss(a, b, { normalization: 'global', sharpen: false })));
check('targetDistribution', [[[n, 6], 2]], (x) => dg.noGrad(() => dg.targetDistribution(dg.softmax(x))));
check('contractivePenalty', [[[50, 30], 0.3], [[20, 50], 0.3], [[10, 20], 0.3]], (w1, w2, w3) => {
  const x = constant([40, 30]);
  const h1 = dg.noGrad(() => dg.relu(dg.matmul(x, w1, { transB: true })));
  const h2 = dg.noGrad(() => dg.relu(dg.matmul(h1, w2, { transB: true })));
  return dg.contractivePenalty([w1, w2, w3], [h1, h2]);
});
{
  const x = constant([n, 12], 2);
  const km = dg.kmeans(x, 5, { nInit: 3, seed: 7 });
  const hash = crypto.createHash('sha256');
  hash.update(Buffer.from(km.centers.data().buffer));
  hash.update(Buffer.from(km.labels.buffer));
  console.log(`kmeans ${hash.digest('hex').slice(0, 24)}`);
  const knn = dg.knnGraph(x, 5);
  console.log(`knnGraph ${crypto.createHash('sha256').update(Buffer.from(knn.data().buffer)).digest('hex').slice(0, 24)}`);
}
{
  // One step of each optimizer from the same gradient.
  for (const [name, make] of [['adam', (p) => new dg.Adam(p, { lr: 1e-2 })], ['sgd momentum', (p) => new dg.SGD(p, { lr: 1e-2, momentum: 0.9 })]]) {
    const p = param([n, 17]);
    p.grad = constant([n, 17]);
    const opt = make([p]);
    opt.step();
    opt.step();
    console.log(`${name} ${crypto.createHash('sha256').update(Buffer.from(p.data().buffer)).digest('hex').slice(0, 24)}`);
  }
}
