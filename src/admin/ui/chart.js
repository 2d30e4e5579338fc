// Small line charts of the last minutes on a canvas: one or more series sampled once a second.

import {h} from './dom.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c'];

// A chart element: TITLE above a canvas, one line per name in SERIES. Returns {node, draw(samples)}
// where samples are [{t: ms, values: [v per series]}] oldest first. The time axis spans the samples,
// at least one minute and at most MAX_WINDOW_MS.
export function lineChart(title, series, testId, maxWindowMs) {
  const canvas = h('canvas', {class: 'chart', 'data-test': testId + '-canvas'});
  const legend = h('div', {class: 'legend'}, series.map((name, i) =>
    h('span', {class: 'legend-item legend-' + i}, name, ': ', h('b', {'data-test': testId + '-value-' + i}, '–'))));
  const node = h('figure', {class: 'card chart-card', 'data-test': testId}, h('figcaption', {}, title), legend, canvas);

  function draw(samples) {
    samples.at(-1)?.values.forEach((v, i) => {
      node.querySelector('[data-test="' + testId + '-value-' + i + '"]').textContent =
          v === null || v === undefined ? '–' : (Number.isInteger(v) ? String(v) : v.toFixed(2));
    });
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const now = samples.length ? samples.at(-1).t : Date.now();
    const span = samples.length ? now - samples[0].t : 0;
    const windowMs = Math.min(maxWindowMs, Math.max(60000, Math.ceil(span / 60000) * 60000));
    let max = 0;
    for (const s of samples) for (const v of s.values) if (Number.isFinite(v)) max = Math.max(max, v);
    max = niceMax(max);
    const top = 14;
    const plotH = height - top - 14;
    const x = (t) => width - ((now - t) / windowMs) * width;
    const y = (v) => top + plotH - (v / max) * plotH;
    g.strokeStyle = '#ddd';
    g.fillStyle = '#777';
    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    for (const frac of [0, 0.5, 1]) {
      const yy = Math.round(y(max * frac)) + 0.5;
      g.beginPath(); g.moveTo(0, yy); g.lineTo(width, yy); g.stroke();
    }
    g.fillText(String(max), 2, top - 3);
    g.fillText('-' + Math.round(windowMs / 60000) + ' min', 2, height - 2);
    series.forEach((_, i) => {
      g.strokeStyle = COLORS[i % COLORS.length];
      g.lineWidth = 1.5;
      g.beginPath();
      let started = false;
      for (const s of samples) {
        const v = s.values[i];
        if (!Number.isFinite(v)) { started = false; continue; }
        if (started) g.lineTo(x(s.t), y(v)); else g.moveTo(x(s.t), y(v));
        started = true;
      }
      g.stroke();
    });
  }
  return {node, draw};
}

// The smallest 1, 2 or 5 times a power of ten that is at least V (1 for 0).
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
