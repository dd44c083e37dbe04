// Clustering metrics against scikit-learn, and the Hungarian solver against brute force.
//
// Expected values: the small cases are derived by hand below (and agree with sklearn); the random cases were
// computed once with scikit-learn 1.2.1 (numpy 1.24.2, scipy 1.10.1) on the labels that makeCase() generates:
//   acc: scipy linear_sum_assignment(contingency_matrix(yTrue, yPred), maximize=True), predictions relabelled by
//        it (unmatched clusters → a label outside the classes), then accuracy_score;
//   f1:  f1_score(yTrue, relabelled, labels=classes, average='macro') on the same relabelling;
//   nmi: normalized_mutual_info_score(yTrue, yPred, average_method='arithmetic');
//   ari: adjusted_rand_score(yTrue, yPred).
// Every random case was checked to have a unique optimal matching (forbid each matched cell, re-solve, the
// optimum must drop), so F1 does not depend on how ties are broken. No Python is needed to run this file.
import { accuracy, ari, conductance, evaluate, f1Macro, modularity, nmi, type EdgeListGraph } from '../lib/cluster/metrics';
import { linearSumAssignment } from '../lib/cluster/hungarian';

const TOL = 1e-6;

function expectClose(actual: number, expected: number, what = ''): void {
  if (!(Math.abs(actual - expected) <= TOL)) {
    throw new Error(`${what}: expected ${expected}, got ${actual} (|diff| = ${Math.abs(actual - expected)})`);
  }
}

function expectAll(yTrue: number[] | Int32Array, yPred: number[] | Int32Array, e: { acc: number; nmi: number; ari: number; f1: number }, what = ''): void {
  expectClose(accuracy(yTrue, yPred), e.acc, `${what} acc`);
  expectClose(nmi(yTrue, yPred), e.nmi, `${what} nmi`);
  expectClose(ari(yTrue, yPred), e.ari, `${what} ari`);
  expectClose(f1Macro(yTrue, yPred), e.f1, `${what} f1`);
  const all = evaluate(yTrue, yPred);
  expectClose(all.acc, e.acc, `${what} evaluate.acc`);
  expectClose(all.nmi, e.nmi, `${what} evaluate.nmi`);
  expectClose(all.ari, e.ari, `${what} evaluate.ari`);
  expectClose(all.f1, e.f1, `${what} evaluate.f1`);
}

// ---- deterministic data --------------------------------------------------------------------------------

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CaseSpec {
  seed: number;
  n: number;
  kt: number;
  kp: number;
  noise: number;
  /** Label values: yTrue = tA·class + tB, yPred = pA·cluster + pB (exercises non-contiguous labels). */
  tA: number;
  tB: number;
  pA: number;
  pB: number;
}

/** Classes skewed to small ids; clusters a shuffled function of the class, some split (kp > kt), plus noise. */
function makeCase(c: CaseSpec): { yTrue: number[]; yPred: number[] } {
  const rnd = mulberry32(c.seed);
  const perm = Array.from({ length: c.kp }, (_, i) => i);
  for (let i = c.kp - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  // push, not new Array(n): V8 keeps a large new Array(n) in slow dictionary mode.
  const yTrue: number[] = [];
  const yPred: number[] = [];
  for (let s = 0; s < c.n; s++) {
    const u = rnd();
    const cls = Math.floor(c.kt * u * u * 0.5 + c.kt * u * 0.5);
    let p = perm[cls % c.kp];
    if (c.kp > c.kt && rnd() < 0.3) p = perm[c.kt + (cls % (c.kp - c.kt))];
    if (rnd() < c.noise) p = Math.floor(rnd() * c.kp);
    yTrue.push(c.tA * cls + c.tB);
    yPred.push(c.pA * p + c.pB);
  }
  return { yTrue, yPred };
}

/** Fingerprint of the generated arrays (sums and a rolling hash), to catch any drift of the generator. */
function fingerprint(yTrue: number[], yPred: number[]): [number, number, number] {
  let a = 0;
  let b = 0;
  let h = 0;
  for (let i = 0; i < yTrue.length; i++) {
    a += yTrue[i];
    b += yPred[i];
    h = (Math.imul(h, 31) + yTrue[i] * 7 + yPred[i]) | 0;
  }
  return [a, b, h];
}

interface RandomCase extends CaseSpec {
  fp: [number, number, number];
  acc: number;
  nmi: number;
  ari: number;
  f1: number;
}

// Expected values from scikit-learn 1.2.1 (see the header).
const RANDOM_CASES: RandomCase[] = [
  { seed: 1, n: 50, kt: 3, kp: 3, noise: 0.2, tA: 1, tB: 0, pA: 1, pB: 0, fp: [47, 57, 435951322],
    acc: 0.84, nmi: 0.5211691724497531, ari: 0.5643344500796467, f1: 0.8371273712737127 },
  { seed: 22, n: 137, kt: 4, kp: 6, noise: 0.15, tA: 1, tB: 1, pA: 5, pB: -7, fp: [302, 746, 2118151438],
    acc: 0.583941605839416, nmi: 0.4764553536120575, ari: 0.3898918758661546, f1: 0.7052172157622739 },
  { seed: 3, n: 500, kt: 7, kp: 5, noise: 0.3, tA: 10, tB: 0, pA: 1, pB: 100, fp: [11730, 51100, -1881841246],
    acc: 0.642, nmi: 0.434787742144038, ari: 0.4096030288325319, f1: 0.5061529096133415 },
  { seed: 4, n: 1000, kt: 10, kp: 10, noise: 0.25, tA: 1, tB: 0, pA: -1, pB: 9, fp: [3731, 4578, 1450249641],
    acc: 0.781, nmi: 0.5831652364630503, ari: 0.591645326579696, f1: 0.7689083568588095 },
  { seed: 5, n: 2000, kt: 10, kp: 8, noise: 0.4, tA: 1, tB: 1, pA: 1, pB: 1, fp: [9292, 8923, 1245685133],
    acc: 0.5575, nmi: 0.3327446104660006, ari: 0.30408282680247384, f1: 0.47692253482360136 },
  { seed: 6, n: 2000, kt: 2, kp: 2, noise: 0.45, tA: 1, tB: 0, pA: 1, pB: 0, fp: [741, 878, -715191381],
    acc: 0.7765, nmi: 0.23010434997207646, ari: 0.30479526622636877, f1: 0.7680836994748679 },
  { seed: 7, n: 777, kt: 5, kp: 10, noise: 0.1, tA: 3, tB: -2, pA: 1, pB: 0, fp: [2241, 3585, 1705770432],
    acc: 0.6306306306306306, nmi: 0.6160333270064464, ari: 0.53734144858379, f1: 0.7518108977748043 },
  { seed: 8, n: 64, kt: 8, kp: 8, noise: 0.6, tA: 1, tB: 0, pA: 1, pB: 0, fp: [179, 213, 165187246],
    acc: 0.375, nmi: 0.30287593671754764, ari: 0.059542689080476344, f1: 0.3491238833630138 },
  { seed: 9, n: 1500, kt: 6, kp: 6, noise: 0.9, tA: 1, tB: 0, pA: 2, pB: 0, fp: [3191, 7478, -1110619013],
    acc: 0.256, nmi: 0.01856085683396602, ari: 0.012972862946623337, f1: 0.24973120634715032 },
  // Cluster labels spread over ~10^7 values: the sorted (non-table) remapping path.
  { seed: 10, n: 300, kt: 3, kp: 9, noise: 0.35, tA: 1, tB: 0, pA: 1000003, pB: -500000000, fp: [239, -149078997237, 596264156],
    acc: 0.55, nmi: 0.34005110050805853, ari: 0.3329866643665161, f1: 0.6799748907272095 },
  { seed: 11, n: 1200, kt: 9, kp: 4, noise: 0.2, tA: 1, tB: 0, pA: 1, pB: 0, fp: [3952, 1551, 2133592041],
    acc: 0.4716666666666667, nmi: 0.45542956364652337, ari: 0.3555856600829772, f1: 0.2680701125265656 },
  { seed: 12, n: 90, kt: 2, kp: 7, noise: 0.5, tA: -1, tB: 0, pA: 1, pB: 0, fp: [-33, 244, 1806643045],
    acc: 0.37777777777777777, nmi: 0.15096753581453323, ari: 0.10805122853047013, f1: 0.5333333333333333 },
  // Large: ARI's pair counts (~10^10) have products beyond 2^53.
  { seed: 99, n: 150000, kt: 10, kp: 10, noise: 0.3, tA: 1, tB: 0, pA: 1, pB: 0, fp: [552061, 662600, 87460489],
    acc: 0.7294866666666666, nmi: 0.4860340720480657, ari: 0.49930146426819655, f1: 0.7215360498896771 },
];

// ---- the Hungarian solver ------------------------------------------------------------------------------

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) {
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  }
  return out;
}

/** Best total over all injective maps of the short side into the long side (brute force). */
function bruteForce(cost: number[][], maximize: boolean): number {
  const r = cost.length;
  const c = r > 0 ? cost[0].length : 0;
  const short = Math.min(r, c);
  const long = Math.max(r, c);
  const at = (s: number, l: number): number => (r <= c ? cost[s][l] : cost[l][s]);
  let best = maximize ? -Infinity : Infinity;
  // Choose which `short` of the `long` indices are used, then every order of them.
  const perms = permutations(short);
  const choose = (start: number, chosen: number[]): void => {
    if (chosen.length === short) {
      for (const p of perms) {
        let s = 0;
        for (let i = 0; i < short; i++) s += at(i, chosen[p[i]]);
        best = maximize ? Math.max(best, s) : Math.min(best, s);
      }
      return;
    }
    for (let l = start; l < long; l++) choose(l + 1, [...chosen, l]);
  };
  choose(0, []);
  return short === 0 ? 0 : best;
}

function randomCost(rnd: () => number, r: number, c: number, integer: boolean): number[][] {
  return Array.from({ length: r }, () => Array.from({ length: c }, () => (integer ? Math.floor(rnd() * 20) - 5 : rnd() * 100 - 30)));
}

function checkAssignment(cost: number[][], maximize: boolean): void {
  const r = cost.length;
  const c = r > 0 ? cost[0].length : 0;
  const sol = linearSumAssignment(cost, { maximize });
  const k = Math.min(r, c);
  expect(sol.rowInd.length).toBe(k);
  // A valid assignment: distinct rows and columns, consistent maps, total = Σ of the chosen cells.
  expect(new Set(sol.rowInd).size).toBe(k);
  expect(new Set(sol.colInd).size).toBe(k);
  let s = 0;
  for (let t = 0; t < k; t++) {
    expect(sol.rowToCol[sol.rowInd[t]]).toBe(sol.colInd[t]);
    expect(sol.colToRow[sol.colInd[t]]).toBe(sol.rowInd[t]);
    s += cost[sol.rowInd[t]][sol.colInd[t]];
  }
  expect(Math.abs(sol.total - s)).toBeLessThan(1e-9);
  expect(Math.abs(sol.total - bruteForce(cost, maximize))).toBeLessThan(1e-9);
}

describe('linearSumAssignment (Hungarian)', () => {
  test('square K = 1..7 matches brute force over all permutations (min and max, integer and real costs)', () => {
    const rnd = mulberry32(2024);
    for (let k = 1; k <= 7; k++) {
      for (let rep = 0; rep < (k <= 5 ? 20 : 4); rep++) {
        const integer = rep % 2 === 0; // integer costs have many ties
        const cost = randomCost(rnd, k, k, integer);
        checkAssignment(cost, false);
        checkAssignment(cost, true);
      }
    }
  });

  test('rectangular R × C (R, C ≤ 7) matches brute force over all injective maps', () => {
    const rnd = mulberry32(77);
    for (let r = 1; r <= 7; r++) {
      for (let c = 1; c <= 7; c++) {
        if (r === c) continue;
        for (let rep = 0; rep < 2; rep++) {
          const cost = randomCost(rnd, r, c, rep === 0);
          checkAssignment(cost, false);
          checkAssignment(cost, true);
        }
      }
    }
  });

  test('rectangular: unassigned rows / columns are −1', () => {
    const wide = linearSumAssignment([[5, 1, 9]]);
    expect(Array.from(wide.rowToCol)).toEqual([1]);
    expect(Array.from(wide.colToRow)).toEqual([-1, 0, -1]);
    const tall = linearSumAssignment([[5], [1], [9]], { maximize: true });
    expect(Array.from(tall.rowToCol)).toEqual([-1, -1, 0]);
    expect(Array.from(tall.rowInd)).toEqual([2]);
    expect(tall.total).toBe(9);
  });

  test('beats greedy on an adversarial matrix', () => {
    // Greedy (take the largest cell, strike its row and column) picks 10, then 1: 11. Optimal: 9 + 9 = 18.
    const cost = [
      [10, 9],
      [9, 1],
    ];
    const sol = linearSumAssignment(cost, { maximize: true });
    expect(sol.total).toBe(18);
    expect(Array.from(sol.rowToCol)).toEqual([1, 0]);
    // 3×3: greedy (largest cell first, or row by row) takes 10, then 1, then 0: 11. Optimal: 9 + 9 + 1 = 19.
    const c3 = [
      [10, 9, 0],
      [9, 0, 0],
      [0, 0, 1],
    ];
    expect(bruteForce(c3, true)).toBe(19);
    expect(linearSumAssignment(c3, { maximize: true }).total).toBe(19);
  });

  test('flat input, empty matrices, and argument errors', () => {
    const flat = Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]);
    const sol = linearSumAssignment(flat, 3, 3);
    expect(sol.total).toBe(5); // scipy's doc example: rows → cols [1, 0, 2], 1 + 2 + 2
    expect(Array.from(sol.colInd)).toEqual([1, 0, 2]);
    expect(linearSumAssignment([]).rowInd.length).toBe(0);
    expect(linearSumAssignment(new Float64Array(0), 0, 4).total).toBe(0);
    expect(() => linearSumAssignment([[1, 2], [3]])).toThrow(expect.objectContaining({ code: 'DGC_ARG' }));
    expect(() => linearSumAssignment(flat, 2, 3)).toThrow(/9 entries but rows × cols = 2 × 3/);
    expect(() => linearSumAssignment([[1, NaN]])).toThrow(expect.objectContaining({ code: 'DGC_ARG' }));
  });
});

// ---- ACC / NMI / ARI / F1 -------------------------------------------------------------------------------

describe('clustering metrics: hand-checked cases', () => {
  test('perfect clustering, under any permutation and relabelling of the clusters → 1.0 everywhere', () => {
    const one = { acc: 1, nmi: 1, ari: 1, f1: 1 };
    expectAll([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], one, 'identity');
    expectAll([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1], one, 'permuted');
    expectAll([0, 0, 1, 1, 2, 2], [-5, -5, 40, 40, 7, 7], one, 'relabelled');
    // A large random one: cluster = a fixed bijection of the class.
    const { yTrue } = makeCase(RANDOM_CASES[3]);
    const map = [3, 9, 0, 7, 1, 8, 2, 6, 4, 5].map((v) => v * 11 - 40);
    expectAll(yTrue, yTrue.map((c) => map[c]), one, 'random permuted');
  });

  test('more clusters than classes', () => {
    // yTrue = [0,0,0,1,1,1], yPred = [0,0,1,1,2,2]. Contingency (classes × clusters): [[2,1,0],[0,1,2]],
    // a = (3,3), b = (2,2,2), N = 6.
    // ACC: class 0 ↔ cluster 0 (2), class 1 ↔ cluster 2 (2); cluster 1 unmatched → 4/6 = 2/3.
    // F1: each class TP = 2, support 3, predicted 2 → 2·2/(3+2) = 0.8; macro 0.8.
    // NMI: MI = 2·(2/6)·log(6·2/(3·2)) + 2·(1/6)·log(6·1/(3·2)) = (2/3)·log 2; H(U) = log 2, H(V) = log 3;
    //      NMI = (2/3)·log 2 / ((log 2 + log 3)/2) = (4/3)·log 2 / log 6.
    // ARI: Σ C(n_ij,2) = 2, Σ C(a_i,2) = 6, Σ C(b_j,2) = 3, C(6,2) = 15: E = 6·3/15 = 1.2, max = 4.5;
    //      ARI = (2 − 1.2)/(4.5 − 1.2) = 8/33.
    const e = { acc: 2 / 3, nmi: ((4 / 3) * Math.log(2)) / Math.log(6), ari: 8 / 33, f1: 0.8 };
    expectAll([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2], e, 'more clusters');
    // sklearn 1.2.1 gives the same: acc 0.6666666666666666, nmi 0.5158037429793888, ari 0.24242424242424243, f1 0.8.
    expectClose(e.nmi, 0.5158037429793888, 'hand vs sklearn');
    // 1-based and non-contiguous labels: the same numbers.
    expectAll([1, 1, 1, 2, 2, 2], [10, 10, -3, -3, 99, 99], e, '1-based / non-contiguous');
    expectAll(Int32Array.from([1, 1, 1, 2, 2, 2]), Int32Array.from([10, 10, -3, -3, 99, 99]), e, 'Int32Array');
  });

  test('fewer clusters than classes', () => {
    // yTrue = [0,0,1,1,2,2], yPred = [0,0,0,0,1,1]. Contingency [[2,0],[2,0],[0,2]], a = (2,2,2), b = (4,2).
    // ACC: cluster 0 ↔ class 0 (or class 1, a tie with the same F1 by symmetry), cluster 1 ↔ class 2 → 4/6.
    // F1: matched class 0: 2·2/(2+4) = 2/3; class 1 (no cluster): 0; class 2: 2·2/(2+2) = 1 → (2/3 + 0 + 1)/3 = 5/9.
    // NMI: MI = 2·(2/6)·log(6·2/(2·4)) + (2/6)·log(6·2/(2·2)) = log 3 − (2/3)·log 2 = H(V); H(U) = log 3;
    //      NMI = 2·(log 3 − (2/3) log 2) / (2·log 3 − (2/3)·log 2).
    // ARI: Σ C(n_ij,2) = 3, Σ C(a_i,2) = 3, Σ C(b_j,2) = 6 + 1 = 7: E = 3·7/15 = 1.4, max = 5 → 1.6/3.6 = 4/9.
    const hv = Math.log(3) - (2 / 3) * Math.log(2);
    const e = { acc: 2 / 3, nmi: (2 * hv) / (Math.log(3) + hv), ari: 4 / 9, f1: 5 / 9 };
    expectAll([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 1], e, 'fewer clusters');
    expectClose(e.nmi, 0.7336804366512113, 'hand vs sklearn'); // sklearn 1.2.1
    // (SDCN's cluster_acc would first set yPred[0] = 2, giving acc 0.8333, f1 0.8222, nmi 0.7397: see metrics.ts.)
  });

  test('all in one cluster', () => {
    // yTrue = [0,0,1,1,1], yPred all 7: the cluster ↔ class 1 → ACC 3/5;
    // F1: class 1: 2·3/(3+5) = 0.75, class 0: 0 → 0.375. NMI: yPred is constant, MI = 0 → 0 (sklearn's rule).
    // ARI: Σ C(n_ij,2) = 1 + 3 = 4 = E = 4·10/10 → 0.
    expectAll([0, 0, 1, 1, 1], [7, 7, 7, 7, 7], { acc: 0.6, nmi: 0, ari: 0, f1: 0.375 }, 'pred constant');
    // The other way round: yTrue constant → NMI 0 as well; the class ↔ cluster 1 (3) → ACC 3/5,
    // F1 = 2·3/(5+3) = 0.75.
    expectAll([7, 7, 7, 7, 7], [0, 0, 1, 1, 1], { acc: 0.6, nmi: 0, ari: 0, f1: 0.75 }, 'true constant');
    // Both constant: sklearn returns 1.0 for NMI and ARI; ACC = F1 = 1.
    expectAll([3, 3, 3], [5, 5, 5], { acc: 1, nmi: 1, ari: 1, f1: 1 }, 'both constant');
    // One sample: both constant.
    expectAll([4], [9], { acc: 1, nmi: 1, ari: 1, f1: 1 }, 'N = 1');
  });

  test('all singletons', () => {
    // Both singletons (any order): identical partitions: ARI 1 (fn = fp = 0), NMI = log 5 / log 5 = 1.
    expectAll([0, 1, 2, 3, 4], [3, 0, 4, 1, 2], { acc: 1, nmi: 1, ari: 1, f1: 1 }, 'singletons vs singletons');
    // yTrue = [0,0,1,1,1] vs singletons: each class gets one singleton → ACC 2/5;
    // F1: class 0: 2·1/(2+1) = 2/3, class 1: 2·1/(3+1) = 1/2 → 7/12.
    // NMI: yPred refines yTrue, MI = H(U) = −(0.4 log 0.4 + 0.6 log 0.6), H(V) = log 5 → 2·H(U)/(H(U) + log 5).
    // ARI: Σ C(n_ij,2) = 0, Σ C(b_j,2) = 0 → E = 0, max = (4 + 0)/2 → 0.
    const hu = -(0.4 * Math.log(0.4) + 0.6 * Math.log(0.6));
    expectAll([0, 0, 1, 1, 1], [0, 1, 2, 3, 4], { acc: 0.4, nmi: (2 * hu) / (hu + Math.log(5)), ari: 0, f1: 7 / 12 }, 'classes vs singletons');
    expectClose((2 * hu) / (hu + Math.log(5)), 0.5897275217561565, 'hand vs sklearn'); // sklearn 1.2.1
    // Many singletons (N = 50,000 on both sides; the dense table would have 2.5·10⁹ cells): the sparse path.
    const n = 50000;
    const a = Int32Array.from({ length: n }, (_, i) => i);
    const b = Int32Array.from({ length: n }, (_, i) => (i * 7919) % n); // a permutation (7919 is prime, ∤ n)
    const r = evaluate(a, b);
    expect(r).toEqual({ acc: 1, nmi: expect.any(Number), ari: 1, f1: 1 });
    expectClose(r.nmi, 1, 'large singletons nmi');
  });

  test('independent labelings (sklearn doc example): ARI −0.5, NMI 0', () => {
    // Contingency all ones: MI = Σ (1/4)·log(4·1/(2·2)) = 0 → NMI 0. ARI: Σ C(n_ij,2) = 0, E = 2·2/6 = 2/3,
    // max = 2 → (0 − 2/3)/(2 − 2/3) = −0.5. Every matching gets 2 → ACC 0.5, F1 2·1/(2+2) = 0.5.
    expectAll([0, 0, 1, 1], [0, 1, 0, 1], { acc: 0.5, nmi: 0, ari: -0.5, f1: 0.5 }, 'independent');
  });

  test('adversarial case for greedy matching', () => {
    // Class 0: 9 samples, 5 in cluster 0 and 4 in cluster 1; class 1: 4 samples, all in cluster 0.
    // Contingency [[5,4],[4,0]]. Greedy takes the largest cell (class 0 ↔ cluster 0, 5) and is left with 0:
    // ACC 5/13. The optimal matching is class 0 ↔ cluster 1, class 1 ↔ cluster 0: (4 + 4)/13 = 8/13.
    // F1: class 0: 2·4/(9+4) = 8/13; class 1: 2·4/(4+9) = 8/13 → 8/13.
    // NMI / ARI from sklearn 1.2.1: 0.22949351919925903, −0.031746031746031744 (ARI by hand: Σ C(n_ij,2) =
    // 10 + 6 + 6 = 22, Σ C(a_i,2) = 36 + 6 = 42, Σ C(b_j,2) = 36 + 6 = 42, C(13,2) = 78: E = 42·42/78 = 294/13,
    // max = 42 → (22 − 294/13)/(42 − 294/13) = (−8/13)/(252/13) = −2/63).
    const yTrue = [...Array(9).fill(0), ...Array(4).fill(1)];
    const yPred = [...Array(5).fill(0), ...Array(4).fill(1), ...Array(4).fill(0)];
    expectAll(yTrue, yPred, { acc: 8 / 13, nmi: 0.22949351919925903, ari: -2 / 63, f1: 8 / 13 }, 'greedy trap');
  });
});

describe('clustering metrics: random cases vs scikit-learn', () => {
  test.each(RANDOM_CASES.map((c) => [`seed ${c.seed}: N=${c.n}, Kt=${c.kt}, Kp=${c.kp}, noise ${c.noise}`, c] as const))('%s', (_name, c) => {
    const { yTrue, yPred } = makeCase(c);
    expect(fingerprint(yTrue, yPred)).toEqual(c.fp);
    expectAll(yTrue, yPred, c, `seed ${c.seed}`);
    expectAll(Int32Array.from(yTrue), Int32Array.from(yPred), c, `seed ${c.seed} (Int32Array)`);
    // NMI and ARI are symmetric in their arguments.
    expectClose(nmi(yPred, yTrue), c.nmi, 'nmi swapped');
    expectClose(ari(yPred, yTrue), c.ari, 'ari swapped');
  });
});

describe('clustering metrics: many labels (sparse contingency path)', () => {
  test('N = 3000, Kt = Kp = 300: ACC, NMI, ARI vs scikit-learn', () => {
    // 300 × 300 = 90,000 cells > max(4N, 2^16): the contingency table is built by sorting cell codes, and the
    // matching is a 300 × 300 Hungarian. Many optimal matchings tie here, so F1 (tie-dependent) is not compared.
    const c: CaseSpec = { seed: 31, n: 3000, kt: 300, kp: 300, noise: 0.5, tA: 1, tB: 0, pA: 1, pB: 0 };
    const { yTrue, yPred } = makeCase(c);
    expect(fingerprint(yTrue, yPred)).toEqual([366272, 448581, -551376441]);
    const r = evaluate(yTrue, yPred);
    expectClose(r.acc, 0.5013333333333333, 'acc'); // sklearn 1.2.1 / scipy 1.10.1, as in the header
    expectClose(r.nmi, 0.7358276354973965, 'nmi');
    expectClose(r.ari, 0.2615889499947206, 'ari');
    expect(r.f1).toBeGreaterThan(0);
    expect(r.f1).toBeLessThanOrEqual(1);
  });
});

describe('clustering metrics: argument errors', () => {
  test('length mismatch names both arguments and sizes', () => {
    for (const fn of [accuracy, nmi, ari, f1Macro, evaluate]) {
      let err: unknown;
      try {
        fn([0, 1, 1], [0, 1]);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'DGC_ARG' });
      expect((err as Error).message).toMatch(/yTrue\.length = 3 and yPred\.length = 2/);
    }
  });

  test('empty input', () => {
    expect(() => evaluate([], [])).toThrow(expect.objectContaining({ code: 'DGC_ARG', message: expect.stringMatching(/empty/) }));
    expect(() => nmi(new Int32Array(0), new Int32Array(0))).toThrow(expect.objectContaining({ code: 'DGC_ARG' }));
  });

  test('non-integer labels and wrong types', () => {
    expect(() => accuracy([0, 1.5], [0, 1])).toThrow(expect.objectContaining({ code: 'DGC_ARG', message: expect.stringMatching(/yTrue\[1\] = 1\.5/) }));
    expect(() => ari([0, 1], [0, NaN])).toThrow(expect.objectContaining({ code: 'DGC_ARG', message: expect.stringMatching(/yPred\[1\]/) }));
    expect(() => nmi('ab' as unknown as number[], [0, 1])).toThrow(expect.objectContaining({ code: 'DGC_ARG' }));
  });
});

describe('clustering metrics: performance', () => {
  test('ACC/NMI/ARI/F1 at N = 100,000, K = 10 take well under 100 ms', () => {
    const c: CaseSpec = { seed: 5150, n: 100000, kt: 10, kp: 10, noise: 0.3, tA: 1, tB: 0, pA: 1, pB: 0 };
    const { yTrue, yPred } = makeCase(c);
    const t32 = Int32Array.from(yTrue);
    const p32 = Int32Array.from(yPred);
    let best = Infinity;
    let bestArr = Infinity;
    for (let rep = 0; rep < 5; rep++) {
      let t0 = performance.now();
      evaluate(t32, p32);
      best = Math.min(best, performance.now() - t0);
      t0 = performance.now();
      accuracy(yTrue, yPred);
      nmi(yTrue, yPred);
      ari(yTrue, yPred);
      f1Macro(yTrue, yPred);
      bestArr = Math.min(bestArr, performance.now() - t0);
    }
    console.log(`evaluate (Int32Array) ${best.toFixed(2)} ms; acc+nmi+ari+f1 (number[]) ${bestArr.toFixed(2)} ms`);
    expect(best).toBeLessThan(50);
    expect(bestArr).toBeLessThan(100);
  });
});

// ---- graph metrics --------------------------------------------------------------------------------------

/** Two 4-cliques {0..3} and {4..7} joined by the edge 3–4; every edge listed in both directions. */
function twoCliques(): { src: number[]; dst: number[]; undirected: [number, number][] } {
  const undirected: [number, number][] = [];
  for (const base of [0, 4]) {
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) undirected.push([base + i, base + j]);
  }
  undirected.push([3, 4]);
  const src: number[] = [];
  const dst: number[] = [];
  for (const [u, v] of undirected) {
    src.push(u, v);
    dst.push(v, u);
  }
  return { src, dst, undirected };
}

function toCsr(n: number, src: number[], dst: number[]): { indptr: Int32Array; indices: Int32Array } {
  const rows: number[][] = Array.from({ length: n }, () => []);
  for (let e = 0; e < src.length; e++) rows[src[e]].push(dst[e]);
  const indptr = new Int32Array(n + 1);
  const indices: number[] = [];
  for (let i = 0; i < n; i++) {
    rows[i].sort((a, b) => a - b);
    indices.push(...rows[i]);
    indptr[i + 1] = indices.length;
  }
  return { indptr, indices: Int32Array.from(indices) };
}

describe('graph metrics', () => {
  const g = twoCliques();
  const split = [0, 0, 0, 0, 1, 1, 1, 1];

  test('modularity of two cliques joined by one edge', () => {
    // m = 6 + 6 + 1 = 13 edges, 2m = 26. Degrees: 3 inside each clique, +1 at nodes 3 and 4, so vol = 13 each.
    // L_c = 12 (ordered entries inside each clique). Q = 2·[12/26 − (13/26)²] = 12/13 − 1/2 = 11/26.
    // (networkx 2.8 community.modularity gives 0.42307692307692313.)
    expectClose(modularity(g, split), 11 / 26, 'Q');
    expectClose(modularity(g, [5, 5, 5, 5, -1, -1, -1, -1]), 11 / 26, 'Q relabelled');
    expectClose(modularity(toCsr(8, g.src, g.dst), split), 11 / 26, 'Q from CSR');
    // Each edge once: same Q (A is read as (A + Aᵀ)/2, and Q is scale-free).
    expectClose(modularity({ src: g.undirected.map((e) => e[0]), dst: g.undirected.map((e) => e[1]) }, split), 11 / 26, 'Q single direction');
    // One cluster: Q = 26/26 − 1 = 0. Singletons: Q = −Σ k_i²/(2m)² = −(6·9 + 2·16)/676 = −86/676.
    expectClose(modularity(g, new Array(8).fill(0)), 0, 'Q one cluster');
    expectClose(modularity(g, [0, 1, 2, 3, 4, 5, 6, 7]), -86 / 676, 'Q singletons');
    // Resolution γ = 0.5: 12/13 − 0.5·(1/4 + 1/4) = 0.6730769...
    expectClose(modularity(g, split, { resolution: 0.5 }), 12 / 13 - 0.25, 'Q γ = 0.5');
    // Weights: doubling every weight changes nothing.
    expectClose(modularity({ ...g, weights: new Array(g.src.length).fill(2) }, split), 11 / 26, 'Q weighted');
  });

  test('modularity: self-loop convention and a graph without edges', () => {
    // Adjacency-matrix convention: one entry (0,0) adds 1 to A_00, to k_0 and to 2m: 2m = 27, L_0 = 13,
    // vol_0 = 14, L_1 = 12, vol_1 = 13 → Q = 25/27 − (14² + 13²)/27² = 310/729.
    expectClose(modularity({ src: [...g.src, 0], dst: [...g.dst, 0] }, split), 310 / 729, 'Q self loop once');
    // Listed twice it counts as networkx's undirected self loop (degree +2): 2m = 28, L_0 = 14, vol_0 = 15 →
    // Q = 26/28 − (15² + 13²)/28² = 167/392 (networkx: 0.42602040816326536).
    expectClose(modularity({ src: [...g.src, 0, 0], dst: [...g.dst, 0, 0] }, split), 167 / 392, 'Q self loop twice');
    expect(modularity({ src: [], dst: [] }, [0, 1, 1])).toBe(0);
  });

  test('conductance of two cliques joined by one edge', () => {
    // cut = 1, vol(S) = vol(V∖S) = 13 → φ = 1/13 for both; average 1/13 (networkx conductance: 0.0769...).
    const r = conductance(g, split);
    expect(r.clusters).toEqual([0, 1]);
    expectClose(r.perCluster[0], 1 / 13, 'φ0');
    expectClose(r.perCluster[1], 1 / 13, 'φ1');
    expectClose(r.average, 1 / 13, 'φ avg');
    expect(Array.from(r.cut)).toEqual([1, 1]);
    expect(Array.from(r.volume)).toEqual([13, 13]);
    const csr = conductance(toCsr(8, g.src, g.dst), [9, 9, 9, 9, 2, 2, 2, 2]);
    expect(csr.clusters).toEqual([2, 9]);
    expectClose(csr.average, 1 / 13, 'φ avg CSR');
    // Uneven split {0,1,2} | {3..7}: cut = 3 (edges 0–3, 1–3, 2–3), vol = 9 and 17 → φ = 3/9 for both.
    const u = conductance(g, [0, 0, 0, 1, 1, 1, 1, 1]);
    expectClose(u.perCluster[0], 3 / 9, 'φ uneven 0');
    expectClose(u.perCluster[1], 3 / 9, 'φ uneven 1');
    // Singletons: cut = vol = k_i ≤ m → φ = 1 each.
    expectClose(conductance(g, [0, 1, 2, 3, 4, 5, 6, 7]).average, 1, 'φ singletons');
  });

  test('conductance: one cluster, empty clusters, isolated nodes, self loops', () => {
    // One cluster: vol(V∖S) = 0 → φ defined as 0.
    const one = conductance(g, new Array(8).fill(3));
    expect(Array.from(one.perCluster)).toEqual([0]);
    expect(one.average).toBe(0);
    // numClusters = 4: clusters 2 and 3 are empty → reported as 0, left out of the average.
    const withEmpty = conductance(g, split, { numClusters: 4 });
    expect(withEmpty.clusters).toEqual([0, 1, 2, 3]);
    expectClose(withEmpty.perCluster[0], 1 / 13, 'φ0');
    expect(withEmpty.perCluster[2]).toBe(0);
    expect(withEmpty.perCluster[3]).toBe(0);
    expectClose(withEmpty.average, 1 / 13, 'φ avg with empty clusters');
    // A cluster of isolated nodes (node 8 has no edges): vol = 0 → φ = 0, and it counts in the average.
    const iso = conductance(g, [...split, 2]);
    expect(iso.perCluster[2]).toBe(0);
    expectClose(iso.average, (2 / 13) / 3, 'φ avg with isolated cluster');
    // A self loop adds to vol, not to the cut: vol_0 = 14, min(14, 13) = 13 → φ = 1/13 still.
    const loop = conductance({ src: [...g.src, 0], dst: [...g.dst, 0] }, split);
    expect(Array.from(loop.volume)).toEqual([14, 13]);
    expectClose(loop.perCluster[0], 1 / 13, 'φ0 with loop');
  });

  test('graph argument errors', () => {
    const bad = (f: () => unknown, re: RegExp): void => {
      expect(f).toThrow(expect.objectContaining({ code: 'DGC_ARG', message: expect.stringMatching(re) }));
    };
    bad(() => modularity(g, [0, 1]), /graph\.(src|dst)\[\d+\] = \d+ is not a node id in \[0, 2\)/);
    bad(() => modularity({ src: [0, 1], dst: [1] }, [0, 1]), /graph\.src and graph\.dst must have the same length, got 2 and 1/);
    bad(() => modularity({ ...g, weights: [1, 2] }, split), /graph\.weights has length 2 but there are 26 edges/);
    bad(() => modularity({ ...g, weights: new Array(26).fill(-1) }, split), /graph\.weights\[0\] = -1/);
    bad(() => conductance(toCsr(8, g.src, g.dst), [0, 1, 0]), /graph\.indptr has length 9 but labels\.length \+ 1 = 4/);
    bad(() => conductance(g, []), /labels is empty/);
    bad(() => conductance(g, split, { numClusters: 1 }), /labels\[4\] = 1 is not a cluster id in \[0, 1\)/);
    bad(() => modularity({} as EdgeListGraph, split), /graph must be/);
  });
});
