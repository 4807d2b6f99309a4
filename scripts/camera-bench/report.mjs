// report.mjs prints the per-category table of the independent camera
// benchmark: codes found by the agent and by zxing-cpp, wrong reads (a
// decoded text that is not the code in the frame) and the median decode
// time per frame (CPU time of the decoding thread, so that other
// processes on the machine do not inflate it; wall-clock medians are in
// the last line), from OUTDIR/{manifest,agent,zxing}.json.
//
// usage: node report.mjs OUTDIR
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const load = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
const { seed, frames } = load('manifest.json');
const agent = load('agent.json'), zx = load('zxing.json');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : 0; };

const rows = new Map();
const row = (k) => { if (!rows.has(k)) rows.set(k, { n: 0, af: 0, zf: 0, aw: 0, zw: 0, at: [], zt: [], aw2: [], zw2: [], onlyZ: [] }); return rows.get(k); };
frames.forEach((f, i) => {
  const a = agent[i], z = zx[i];
  if (a.file !== f.file || z.file !== f.file) throw new Error(`results out of order at ${f.file}`);
  const zHit = z.texts.some((t) => t.text === f.text);
  const zWrong = z.texts.some((t) => t.text !== f.text);
  const aWrong = a.text !== null && a.text !== undefined && !a.found;
  for (const k of [f.category, 'kind:' + f.kind, 'all']) {
    const r = row(k);
    r.n++; r.af += a.found; r.zf += zHit; r.aw += aWrong; r.zw += zWrong; r.at.push(a.cpu_ms); r.zt.push(z.cpu_ms); r.aw2.push(a.ms); r.zw2.push(z.ms);
    if (zHit && !a.found && k === 'all') r.onlyZ.push(`${f.file} ${f.category} ${f.kind}`);
  }
  if (aWrong) console.log(`WRONG READ by the agent: ${f.file} (${f.category}, ${f.kind}) read ${JSON.stringify(a.text)}, is ${JSON.stringify(f.text)}`);
});

const pad = (s, n) => String(s).padEnd(n), lp = (s, n) => String(s).padStart(n);
console.log(`\nIndependent camera frames (bwip-js symbols, 640×480, seed ${seed}): agent vs zxing-cpp ${process.env.ZXING_VERSION || ''}`);
console.log(pad('category', 24) + lp('frames', 7) + lp('agent', 7) + lp('zxing', 7) + lp('wrong a/z', 11) + lp('cpu ms a', 10) + lp('cpu ms z', 10));
const print = (k, label) => {
  const r = rows.get(k);
  if (!r) return;
  console.log(pad(label, 24) + lp(r.n, 7) + lp(r.af, 7) + lp(r.zf, 7) + lp(`${r.aw}/${r.zw}`, 11) + lp(median(r.at).toFixed(1), 10) + lp(median(r.zt).toFixed(1), 10));
};
for (const k of rows.keys()) if (!k.startsWith('kind:') && k !== 'all') print(k, k);
console.log('-'.repeat(76));
for (const k of rows.keys()) if (k.startsWith('kind:')) print(k, k.slice(5));
console.log('-'.repeat(76));
print('all', 'all');
const all = rows.get('all');
console.log(`agent/zxing-cpp found: ${(all.af / all.zf).toFixed(3)}; agent slowest frame ${Math.max(...all.at).toFixed(1)} ms CPU, ${all.at.filter((t) => t > 33.3).length} frames over 33.3 ms (30 frames/s); wall-clock medians agent ${median(all.aw2).toFixed(1)} ms, zxing-cpp ${median(all.zw2).toFixed(1)} ms`);
if (process.env.VERBOSE) for (const s of all.onlyZ) console.log('zxing only:', s);
if (all.aw > 0) process.exitCode = 1;
