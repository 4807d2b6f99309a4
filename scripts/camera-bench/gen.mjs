// gen.mjs renders the independent camera benchmark's frames.
//
// The symbols come from bwip-js (BWIPP), not from gozxing, so the
// decoder is measured on encodings it was never developed against. The
// camera model (placement, projective warp, ink, blur, noise, lighting)
// is this file's own code, kept in plain JavaScript so the frames need no
// image library: every frame is a 640×480 8-bit grey PGM.
//
// usage: node gen.mjs OUTDIR [SEED] [PER]   (PER frames per category)
//
// Writes OUTDIR/NNNN.pgm and OUTDIR/manifest.json:
//   {seed, frames: [{file, category, symbology, kind, text, params}]}
// text is the data as the agent reports it: GS1 separators are GS (0x1D),
// no leading FNC1.
import fs from 'node:fs';
import path from 'node:path';
import bwipjs from 'bwip-js';

const W = 640, H = 480;

// mulberry32: a small seeded PRNG, so a run is reproducible from its seed.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const out = process.argv[2];
if (!out) {
  console.error('usage: node gen.mjs OUTDIR [SEED] [PER]');
  process.exit(2);
}
const seed = process.argv[3] ? Number(process.argv[3]) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const per = process.argv[4] ? Number(process.argv[4]) : 49;
const rnd = prng(seed);
const uni = (a, b) => a + (b - a) * rnd();
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const gauss = () => {
  let u = 0;
  while (u === 0) u = rnd();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
};
const digits = (n) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
const alnum = (n) => Array.from({ length: n }, () => pick('0123456789ABCDEFGHJKLMNPRSTUVWXYZ'.split(''))).join('');

// gtin14 is a GTIN-14 with a valid check digit (GS1 mod 10).
function gtin14() {
  const body = '0' + '69' + digits(10);
  let sum = 0;
  for (let i = 0; i < 13; i++) sum += Number(body[12 - i]) * (i % 2 === 0 ? 3 : 1);
  return body + ((10 - (sum % 10)) % 10);
}

// gs1 returns bwip-js input (bracketed AIs) and the expected text.
// (01) and (17) are fixed length; (10) and (21) are variable, so a GS
// follows (10) because (21) comes after it.
function gs1(short) {
  const g = gtin14();
  const exp = String(26 + Math.floor(rnd() * 4)) + String(1 + Math.floor(rnd() * 12)).padStart(2, '0') + String(1 + Math.floor(rnd() * 28)).padStart(2, '0');
  const lot = alnum(short ? 4 : 6);
  if (short) return { input: `(01)${g}(10)${lot}`, text: `01${g}10${lot}` };
  const serial = alnum(8);
  return { input: `(01)${g}(17)${exp}(10)${lot}(21)${serial}`, text: `01${g}17${exp}10${lot}\x1d21${serial}` };
}

// The symbol kinds, each with the bwip-js encoder and expected format.
// msfx = a 20-digit 码上放心 drug trace code.
const KINDS = [
  { kind: 'gs1-dm-square', format: 'datamatrix', make: (s) => { const g = gs1(s); return { bcid: 'gs1datamatrix', ...g }; } },
  { kind: 'gs1-dm-rect', format: 'datamatrix', make: () => { const g = gs1(true); return { bcid: 'gs1datamatrixrectangular', ...g }; } },
  { kind: 'msfx-code128', format: 'code128', make: () => { const t = '8' + digits(19); return { bcid: 'code128', input: t, text: t }; } },
  { kind: 'msfx-dm', format: 'datamatrix', make: () => { const t = '8' + digits(19); return { bcid: 'datamatrix', input: t, text: t }; } },
  { kind: 'msfx-qr', format: 'qr', make: () => { const t = '8' + digits(19); return { bcid: 'qrcode', input: t, text: t }; } },
  { kind: 'gs1-qr', format: 'qr', make: (s) => { const g = gs1(s); return { bcid: 'gs1qrcode', ...g }; } },
  { kind: 'gs1-128', format: 'code128', make: () => { const g = gs1(true); return { bcid: 'gs1-128', ...g }; } },
];

// symbol encodes one code with bwip-js and returns its module grid:
// get(u, v) for module coordinates, its size in modules and the quiet
// zone (modules) the renderer keeps clear.
function symbol(k, short) {
  const c = k.make(short);
  const r = bwipjs.raw(c.bcid, c.input, {})[0];
  let mw, mh, dark;
  if (r.sbs) {
    // Linear: bar/space widths, bar first.
    const row = [];
    r.sbs.forEach((wd, i) => { for (let j = 0; j < wd; j++) row.push(i % 2 === 0 ? 1 : 0); });
    mw = row.length;
    mh = Math.max(20, Math.round(mw * 0.22));
    dark = (u) => row[u];
  } else {
    mw = r.pixx; mh = r.pixy;
    dark = (u, v) => r.pixs[v * mw + u];
  }
  return { ...c, mw, mh, dark, linear: !!r.sbs, quiet: r.sbs ? 10 : 1 };
}

// Homography from the unit square's corners (0,0),(1,0),(1,1),(0,1) to
// quad q, and its inverse use: imgToUnit maps a pixel back.
function squareToQuad(q) {
  const [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = q;
  const dx1 = x1 - x2, dx2 = x3 - x2, dx3 = x0 - x1 + x2 - x3;
  const dy1 = y1 - y2, dy2 = y3 - y2, dy3 = y0 - y1 + y2 - y3;
  const den = dx1 * dy2 - dx2 * dy1;
  const g = (dx3 * dy2 - dx2 * dy3) / den, h = (dx1 * dy3 - dx3 * dy1) / den;
  return [x1 - x0 + g * x1, x3 - x0 + h * x3, x0, y1 - y0 + g * y1, y3 - y0 + h * y3, y0, g, h, 1];
}
function invert3(m) {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [A / det, -(b * i - c * h) / det, (b * f - c * e) / det,
    B / det, (a * i - c * g) / det, -(a * f - c * d) / det,
    C / det, -(a * h - b * g) / det, (a * e - b * d) / det];
}

// place draws symbol s so that its corners (module space, quiet zone
// excluded) land on quad q, with 3×3 supersampling. ink: 'plain',
// 'spread' (dark grows by e modules), 'dots' (round dots of radius e),
// 'gaps' (squares shrunk by e each side).
function place(img, paper, inkv, s, q, ink, e) {
  const Hm = invert3(squareToQuad(q));
  const xs = q.map((p) => p[0]), ys = q.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)) - 1), x1 = Math.min(W, Math.ceil(Math.max(...xs)) + 1);
  const y0 = Math.max(0, Math.floor(Math.min(...ys)) - 1), y1 = Math.min(H, Math.ceil(Math.max(...ys)) + 1);
  const isDark = (u, v) => {
    if (u < 0 || v < 0 || u >= s.mw || v >= s.mh) return false;
    const mu = Math.floor(u), mv = s.linear ? 0 : Math.floor(v);
    if (ink === 'spread') {
      for (const du of [-e, 0, e]) for (const dv of (s.linear ? [0] : [-e, 0, e])) {
        const a = Math.floor(u + du), b = s.linear ? 0 : Math.floor(v + dv);
        if (a >= 0 && b >= 0 && a < s.mw && b < s.mh && s.dark(a, b)) return true;
      }
      return false;
    }
    if (!s.dark(mu, mv)) return false;
    const fu = u - mu - 0.5, fv = v - Math.floor(v) - 0.5;
    if (ink === 'dots') return fu * fu + fv * fv <= e * e;
    if (ink === 'gaps') return Math.abs(fu) <= 0.5 - e && (s.linear || Math.abs(fv) <= 0.5 - e);
    return true;
  };
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      let d = 0;
      for (let sy = 0; sy < 3; sy++) {
        for (let sx = 0; sx < 3; sx++) {
          const px = x + (sx + 0.5) / 3, py = y + (sy + 0.5) / 3;
          const wz = Hm[6] * px + Hm[7] * py + Hm[8];
          const u = (Hm[0] * px + Hm[1] * py + Hm[2]) / wz * s.mw;
          const v = (Hm[3] * px + Hm[4] * py + Hm[5]) / wz * s.mh;
          if (isDark(u, v)) d++;
        }
      }
      if (d) img[y * W + x] = paper - (paper - inkv) * d / 9;
    }
  }
}

// quadFor: the symbol's corners for centre (cx, cy), module m px, angle
// a (deg), shear sh, tilt t (deg, perspective about the vertical axis at
// angle ta of the symbol), all before the frame's clipping.
function quadFor(s, cx, cy, m, a, sh, t, ta) {
  const hw = s.mw * m / 2, hh = s.mh * m / 2;
  // Tilt: the far edge shrinks by cos(t), foreshortened by a focal ratio.
  const k = Math.cos(t * Math.PI / 180);
  let pts = [[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]].map(([x, y]) => [x + sh * y, y]);
  if (t) {
    const cr = Math.cos(ta * Math.PI / 180), sr = Math.sin(ta * Math.PI / 180);
    const R = Math.max(hw, hh);
    pts = pts.map(([x, y]) => {
      // Rotate into the tilt frame, scale along its x, perspective on y.
      const u = x * cr + y * sr, v = -x * sr + y * cr;
      const z = 1 + (u / R) * Math.sin(t * Math.PI / 180) * 0.5;
      const u2 = u * k / z, v2 = v / z;
      return [u2 * cr - v2 * sr, u2 * sr + v2 * cr];
    });
  }
  const c = Math.cos(a * Math.PI / 180), sn = Math.sin(a * Math.PI / 180);
  return pts.map(([x, y]) => [cx + x * c - y * sn, cy + x * sn + y * c]);
}

// placeOnGrid chooses the centre so the quad (plus the quiet zone) lies
// in the frame, at grid cell (gx, gy) of a 9×9 grid across the free range.
function centreOnGrid(q, margin, gx, gy) {
  const xs = q.map((p) => p[0]), ys = q.map((p) => p[1]);
  const ex0 = Math.min(...xs), ex1 = Math.max(...xs), ey0 = Math.min(...ys), ey1 = Math.max(...ys);
  const fw = W - (ex1 - ex0) - 2 * margin, fh = H - (ey1 - ey0) - 2 * margin;
  if (fw < 0 || fh < 0) return null;
  const ox = margin - ex0 + fw * gx / 8, oy = margin - ey0 + fh * gy / 8;
  return q.map(([x, y]) => [x + ox, y + oy]);
}

function gaussBlur(img, sigma) {
  const r = Math.ceil(3 * sigma), k = [];
  let sum = 0;
  for (let i = -r; i <= r; i++) { const v = Math.exp(-i * i / (2 * sigma * sigma)); k.push(v); sum += v; }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  convolve(img, k, true); convolve(img, k, false);
}
function convolve(img, k, horiz) {
  const r = (k.length - 1) / 2, tmp = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let acc = 0;
    for (let i = -r; i <= r; i++) {
      const xx = horiz ? Math.min(W - 1, Math.max(0, x + i)) : x, yy = horiz ? y : Math.min(H - 1, Math.max(0, y + i));
      acc += img[yy * W + xx] * k[i + r];
    }
    tmp[y * W + x] = acc;
  }
  img.set(tmp);
}
// motionBlur: a box of length n along angle a (deg), sampled bilinearly.
function motionBlur(img, n, a) {
  const c = Math.cos(a * Math.PI / 180), s = Math.sin(a * Math.PI / 180), tmp = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const t = i - (n - 1) / 2;
      const xx = Math.min(W - 1, Math.max(0, Math.round(x + t * c))), yy = Math.min(H - 1, Math.max(0, Math.round(y + t * s)));
      acc += img[yy * W + xx];
    }
    tmp[y * W + x] = acc / n;
  }
  img.set(tmp);
}

// clutter prints box text: short bars and blocks (glyph-like) in rows
// around the code, kept off its quiet zone.
function clutter(img, inkv, keep) {
  const [kx0, ky0, kx1, ky1] = keep;
  for (let line = 0; line < 14; line++) {
    const y = Math.floor(uni(0, H - 20)), gh = Math.floor(uni(8, 18));
    let x = Math.floor(uni(0, 100));
    while (x < W - 12) {
      const gw = Math.floor(uni(5, 14));
      if (!(x + gw > kx0 && x < kx1 && y + gh > ky0 && y < ky1)) {
        for (let s = 0; s < 3; s++) {
          const sx = x + Math.floor(uni(0, gw - 2)), sy = y + Math.floor(uni(0, gh - 2));
          const horiz = rnd() < 0.5, len = Math.floor(uni(3, horiz ? gw : gh));
          for (let i = 0; i < len; i++) for (let t = 0; t < 2; t++) {
            const px = horiz ? sx + i : sx + t, py = horiz ? sy + t : sy + i;
            if (px < W && py < H) img[py * W + px] = inkv;
          }
        }
      }
      x += gw + Math.floor(uni(2, 6)) + (rnd() < 0.15 ? 20 : 0);
    }
  }
}

// The categories. Each picks parameters for one frame of kind k; the
// rest of the pipeline (placement, effects) is shared.
const CATEGORIES = {
  position: () => ({ gx: Math.floor(uni(0, 9)), gy: Math.floor(uni(0, 9)), m: uni(3, 5) }),
  'module-2-5': () => ({ m: uni(2, 5) }),
  'module-5-18': () => ({ m: uni(5, 18) }),
  rotation: () => ({ a: uni(0, 90), m: uni(3, 6) }),
  noise: () => ({ noise: uni(3, 20), m: uni(3, 6) }),
  blur: () => ({ blur: uni(1.6, 2.2), m: uni(4, 7) }),
  'motion-blur': () => ({ motion: 8, ma: uni(0, 180), m: uni(5, 8) }),
  'vignette-shadow': () => ({ vignette: uni(0.3, 0.6), shadow: rnd() < 0.7 ? uni(0.35, 0.6) : 0, m: uni(3, 6) }),
  'shear-perspective': () => ({ sh: rnd() < 0.5 ? uni(-0.4, 0.4) : 0, tilt: uni(10, 45), ta: uni(0, 360), a: uni(-20, 20), m: uni(3, 6) }),
  ink: () => ({ ink: pick(['spread', 'dots', 'gaps']), m: uni(3, 6) }),
  clutter: () => ({ clutter: true, m: uni(3, 6) }),
  handheld: () => ({
    a: uni(0, 360), m: uni(2.5, 8), tilt: rnd() < 0.6 ? uni(5, 35) : 0, ta: uni(0, 360), sh: 0,
    noise: uni(2, 10), blur: rnd() < 0.5 ? uni(0.5, 1.5) : 0, vignette: uni(0, 0.4), shadow: rnd() < 0.3 ? uni(0.3, 0.6) : 0,
    ink: pick(['plain', 'plain', 'spread', 'dots', 'gaps']), clutter: rnd() < 0.4,
  }),
};

fs.mkdirSync(out, { recursive: true });
const frames = [];
let n = 0;
for (const [cat, params] of Object.entries(CATEGORIES)) {
  for (let i = 0; i < per; i++) {
    const k = KINDS[i % KINDS.length];
    const p = { gx: Math.floor(uni(2, 7)), gy: Math.floor(uni(2, 7)), a: 0, sh: 0, tilt: 0, ta: 0, ink: 'plain', e: 0, ...params() };
    if (p.ink === 'spread') p.e = uni(0.1, 0.2);
    if (p.ink === 'dots') p.e = uni(0.38, 0.48);
    if (p.ink === 'gaps') p.e = uni(0.06, 0.14);
    const s = symbol(k, p.m > 9);
    // A module too large for the frame (a long Code 128, a turned
    // symbol) shrinks until the symbol and its quiet zone fit.
    let q;
    for (let tries = 0; !q; tries++) {
      q = centreOnGrid(quadFor(s, 0, 0, p.m, p.a, p.sh, p.tilt, p.ta), s.quiet * p.m, p.gx, p.gy);
      if (!q) p.m *= 0.93;
      if (tries > 60) throw new Error(`no room for ${k.kind} in ${cat}`);
    }
    const paper = uni(175, 235), inkv = uni(15, 70);
    const img = new Float32Array(W * H).fill(paper);
    if (p.clutter) {
      const m = s.quiet * p.m, xs = q.map((v) => v[0]), ys = q.map((v) => v[1]);
      clutter(img, inkv, [Math.min(...xs) - m, Math.min(...ys) - m, Math.max(...xs) + m, Math.max(...ys) + m]);
    }
    place(img, paper, inkv, s, q, p.ink, p.e);
    if (p.blur) gaussBlur(img, p.blur);
    if (p.motion) motionBlur(img, p.motion, p.ma);
    if (p.vignette || p.shadow) {
      const sx = uni(0, W), sa = uni(0, Math.PI);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const r2 = ((x - W / 2) ** 2 + (y - H / 2) ** 2) / ((W / 2) ** 2 + (H / 2) ** 2);
        let f = 1 - (p.vignette || 0) * r2;
        if (p.shadow) {
          // A soft-edged shadow over one side of a line through (sx, H/2).
          const d = (x - sx) * Math.cos(sa) + (y - H / 2) * Math.sin(sa);
          f *= 1 - p.shadow / (1 + Math.exp(-d / 6));
        }
        img[y * W + x] *= f;
      }
    }
    const noise = p.noise || 0.8; // a camera is never noise-free
    const pix = Buffer.alloc(W * H);
    for (let j = 0; j < W * H; j++) pix[j] = Math.max(0, Math.min(255, Math.round(img[j] + noise * gauss())));
    const file = String(n).padStart(4, '0') + '.pgm';
    fs.writeFileSync(path.join(out, file), Buffer.concat([Buffer.from(`P5\n${W} ${H}\n255\n`), pix]));
    const round = (o) => Object.fromEntries(Object.entries(o).map(([a, b]) => [a, typeof b === 'number' ? Math.round(b * 100) / 100 : b]));
    frames.push({ file, category: cat, kind: k.kind, format: k.format, text: s.text, params: round(p) });
    n++;
  }
}
fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify({ seed, frames }, null, 1));
console.log(`camera-bench: ${n} frames, seed ${seed} (rerun: SEED=${seed} make bench)`);
