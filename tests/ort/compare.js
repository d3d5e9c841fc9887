// compare.js — runs models gibbon exported in onnxruntime-node and compares
// with gibbon's own outputs (tests/cli_ort.sh).
//
//   node compare.js DIR [TOL]
//
// DIR/manifest.txt lists "model.onnx input.npy output.npy" per line (written
// by tests/test_export.c); each model runs on its input and the first output
// must match gibbon's within TOL (max abs difference, default 1e-5). Exits 1
// if any model fails to load, run, or match.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

// A little-endian float32 .npy (format 1.0, C order), as gb_npy_write writes.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const hlen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + hlen);
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True"))
    throw new Error(`${file}: expected little-endian float32 in C order: ${header}`);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').map(s => s.trim()).filter(s => s)
    .map(Number);
  const off = 10 + hlen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return {shape, data};
}

async function main() {
  const dir = process.argv[2];
  const tol = process.argv[3] ? Number(process.argv[3]) : 1e-5;
  const lines = fs.readFileSync(path.join(dir, 'manifest.txt'), 'utf8').split('\n').filter(l => l.trim());
  let failed = 0;
  for (const line of lines) {
    const [model, input, output] = line.trim().split(/\s+/);
    try {
      const x = readNpy(path.join(dir, input));
      const want = readNpy(path.join(dir, output));
      const session = await ort.InferenceSession.create(path.join(dir, model),
        {intraOpNumThreads: 1, graphOptimizationLevel: 'disabled'});
      const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape)};
      const res = await session.run(feeds);
      const y = res[session.outputNames[0]];
      if (y.dims.join(',') !== want.shape.join(','))
        throw new Error(`output shape ${y.dims} vs gibbon's ${want.shape}`);
      let d = 0;
      for (let i = 0; i < y.data.length; i++) d = Math.max(d, Math.abs(y.data[i] - want.data[i]));
      const good = d <= tol;
      console.log(`${good ? 'ok  ' : 'FAIL'} onnxruntime ${ort.env.versions.common} ${model}: ` +
                  `output ${y.dims.join('x')}, max |ort - gibbon| = ${d.toExponential(2)} (tol ${tol})`);
      if (!good) failed++;
    } catch (e) {
      console.log(`FAIL onnxruntime ${model}: ${e.message}`);
      failed++;
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
