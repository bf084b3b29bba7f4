// ort_worker.js - ONNX Runtime (CPU execution provider, onnxruntime-node) side of compare.py.
// Usage: node ort_worker.js MODEL.onnx THREADS INPUT.bin C H W
// Reads commands on stdin, one JSON line per command on stdout (the protocol of
// `latency --serve`): "run N" -> {"ms": [...], "cpu_ms": [...]}, "output" -> {"output": [...]}, "quit".
'use strict';
const readline = require('readline');
const fs = require('fs');

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.log(JSON.stringify({ error: 'onnxruntime-node is not installed (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install)' }));
  process.exit(3);
}

async function main() {
  const [file, threads, inputPath, c, h, w] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const buf = fs.readFileSync(inputPath);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [1, Number(c), Number(h), Number(w)]) };
  const out = session.outputNames[0];
  console.log(JSON.stringify({ ready: true, version: ort.env.versions ? ort.env.versions.common : 'unknown' }));
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'quit') break;
    if (cmd === 'run') {
      const n = Number(arg || 1);
      const ms = [];
      const cpu_ms = [];  // the process's CPU time per run (all threads), as latency --serve reports
      for (let i = 0; i < n; i++) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await session.run(feeds);
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const c = process.cpuUsage(c0);
        cpu_ms.push((c.user + c.system) / 1e3);
      }
      console.log(JSON.stringify({ ms, cpu_ms }));
    } else if (cmd === 'output') {
      const r = await session.run(feeds);
      console.log(JSON.stringify({ output: Array.from(r[out].data) }));
    } else {
      console.log(JSON.stringify({ error: `unknown command '${cmd}'` }));
    }
  }
  process.exit(0);
}

main().catch((e) => {
  console.log(JSON.stringify({ error: String(e) }));
  process.exit(1);
});
