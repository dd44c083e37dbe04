// `npm run bench` — dgclust against TensorFlow.js (wasm and cpu backends) and, with --torch, PyTorch: kernels at
// the models' shapes and full DFCN / SDCN training steps, in one report (bench/compare/run-compare.ts).
//
//   npm run bench -- --quick            the same report in under two minutes (fewer shapes, no multi-second tfjs-cpu calls)
//   npm run bench -- --torch            add PyTorch (bench/torch/bench_torch.py, /usr/bin/python3); --device cuda for CUDA torch
//   npm run bench -- --record           also replace this machine's block in bench/RESULTS.md
//   npm run bench -- --ops              the per-op table of dgclust alone and GEMM vs OpenBLAS (= npm run bench:ops)
//
// Other flags: --threads N (dgclust and torch, default 2), --only gemm,spmm,selfcorr,cluster,dfcn,sdcn,
// --impls dgclust,tfjs-wasm,tfjs-cpu,torch, --mem-cap-gb G, --case-timeout S, --keep-inputs, --verbose;
// --from-json bench/results/FILE.json [--record] prints (and records) the report of a saved run again.
const args = process.argv.slice(2);

if (args.includes('--ops')) {
  require('./ops');
} else {
  (async () => {
    const { runCompare } = await import('./compare/run-compare');
    await runCompare(args);
  })().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
