// zxing.mjs decodes the benchmark frames with zxing-cpp (the zxing-wasm
// build, one thread) as the reference decoder.
//
// usage: node zxing.mjs OUTDIR   → OUTDIR/zxing.json [{file, texts, ms, cpu_ms}]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader';

const dir = process.argv[2];
const require = createRequire(import.meta.url);
// The wasm binary from the installed package, never from the network
// (zxing-wasm's default locateFile points at a CDN).
const wasm = fs.readFileSync(require.resolve('zxing-wasm/reader/zxing_reader.wasm'));
await prepareZXingModule({ overrides: { wasmBinary: wasm }, fireImmediately: true });

// zxing-cpp's defaults (tryHarder, tryRotate, tryInvert, tryDownscale)
// limited to the symbologies the agent reads. Plain text mode reports GS1
// separators as GS, as the agent does.
const opts = { formats: ['DataMatrix', 'QRCode', 'Code128'], textMode: 'Plain', maxNumberOfSymbols: 4 };
const { frames } = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const results = [];
for (const f of frames) {
  const b = fs.readFileSync(path.join(dir, f.file));
  const [, w, h] = b.subarray(0, 20).toString('latin1').match(/^P5\s+(\d+)\s+(\d+)\s+255\s/).map(Number);
  const pix = b.subarray(b.length - w * h);
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) { rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = pix[i]; rgba[4 * i + 3] = 255; }
  const img = { width: w, height: h, data: rgba, colorSpace: 'srgb' };
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const rs = await readBarcodes(img, opts);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  // cpu_ms: the process's CPU time (the wasm decoder runs on this one
  // thread), which does not grow when other processes share the cores.
  results.push({ file: f.file, ms, cpu_ms: (c.user + c.system) / 1000, texts: rs.filter((r) => r.isValid).map((r) => ({ text: r.text, format: r.format, aim: r.symbologyIdentifier })) });
}
fs.writeFileSync(path.join(dir, 'zxing.json'), JSON.stringify(results));
