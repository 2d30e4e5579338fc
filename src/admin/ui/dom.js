// DOM helpers and formatters shared by the pages. Text goes in as text (never as HTML).

// h('div', {class: 'x', 'data-test': 'y', onclick: fn}, child, ...): an element. Children are nodes,
// strings or numbers; null, undefined and false are skipped; arrays are flattened.
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'value') node.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden') node[k] = Boolean(v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

export function clear(node) { node.replaceChildren(); return node; }

export function byId(id) { return document.getElementById(id); }

// Shows ERR (an ApiError or Error) in NODE, or hides NODE when ERR is null.
export function showError(node, err, prefix) {
  if (!err) { node.hidden = true; node.textContent = ''; return; }
  const status = err.status ? ' (' + err.status + ')' : '';
  node.textContent = (prefix ? prefix + ': ' : '') + err.message + status;
  node.hidden = false;
}

export function errorBox(id, testId) {
  return h('p', {id, class: 'error', role: 'alert', 'data-test': testId || id, hidden: true});
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}

export function fmtNum(n, digits) {
  if (n === undefined || n === null || n === '') return '–';
  if (typeof n !== 'number') return String(n);
  if (digits !== undefined) return n.toFixed(digits);
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2);
}

export function fmtTime(ms) {
  if (ms === undefined || ms === null || ms === 0) return '–';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtDuration(s) {
  if (s === undefined || s === null) return '–';
  s = Math.floor(Number(s));
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (d) return d + 'd ' + hh + 'h ' + mm + 'm';
  if (hh) return hh + 'h ' + mm + 'm ' + ss + 's';
  if (mm) return mm + 'm ' + ss + 's';
  return ss + 's';
}

// A two-column table of [label, value, testId?] rows (null rows are left out).
export function kvTable(rows, testId) {
  return h('table', {class: 'kv', 'data-test': testId},
    h('tbody', {}, rows.filter(Boolean).map(([k, v, t]) => h('tr', {}, h('th', {}, k), h('td', {'data-test': t}, v)))));
}

// A table wrapped so it scrolls sideways on a narrow screen.
export function scrollTable(table) { return h('div', {class: 'table-wrap'}, table); }

// Re-indents the JSON text TEXT without parsing it (numbers keep every digit).
export function prettyJson(text) {
  let out = '';
  let indent = 0;
  let inString = false;
  const nl = () => '\n' + '  '.repeat(indent);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') { out += text[++i] || ''; } else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') { inString = true; out += c; } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      if (text[j] === close) { out += c + close; i = j; continue; }
      indent++;
      out += c + nl();
    } else if (c === '}' || c === ']') {
      indent = Math.max(0, indent - 1);
      out += nl() + c;
    } else if (c === ',') {
      out += ',' + nl();
    } else if (c === ':') {
      out += ': ';
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return out;
}
