// ort_accuracy.js - test accuracy of an ONNX image classifier in ONNX Runtime (CPU, onnxruntime-node)
// on Fashion-MNIST's IDX test files, normalised as trim normalises them (x / 255, mean 0.2860,
// std 0.3530). Prints one JSON line: {"acc": ..., "n": ...}.
//   node bench/peers/ort_accuracy.js MODEL.onnx [/usr/share/datasets/fashion-mnist]
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

function readIdx(file) {
  let b = fs.readFileSync(fs.existsSync(file) ? file : file + '.gz');
  if (b[0] === 0x1f && b[1] === 0x8b) b = zlib.gunzipSync(b);
  return b;
}

async function main() {
  const [model, dir = '/usr/share/datasets/fashion-mnist'] = process.argv.slice(2);
  const img = readIdx(path.join(dir, 't10k-images-idx3-ubyte'));
  const lab = readIdx(path.join(dir, 't10k-labels-idx1-ubyte'));
  const n = img.readUInt32BE(4), h = img.readUInt32BE(8), w = img.readUInt32BE(12);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 2 });
  const scale = 1 / (255 * 0.3530), shift = -0.2860 / 0.3530;
  let right = 0;
  const B = 500;
  for (let s = 0; s < n; s += B) {
    const m = Math.min(B, n - s);
    const x = new Float32Array(m * h * w);
    for (let i = 0; i < m * h * w; i++) x[i] = img[16 + s * h * w + i] * scale + shift;
    const r = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [m, 1, h, w]) });
    const y = r[session.outputNames[0]].data, k = y.length / m;
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (y[i * k + j] > y[i * k + best]) best = j;
      if (best === lab[8 + s + i]) right++;
    }
  }
  console.log(JSON.stringify({ acc: right / n, n }));
}
main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
