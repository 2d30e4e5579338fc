// History: the server's history records, newest first, a page at a time (GET /api/history).

import {api, withQuery} from './api.js';
import {h, errorBox, showError, scrollTable, fmtBytes, fmtNum, fmtTime} from './dom.js';

const LIMIT = 50;

export function mount(container, {params}) {
  const err = errorBox('history-error');
  const summary = h('span', {id: 'history-summary', 'data-test': 'history-summary'});
  const newest = h('a', {class: 'button', href: '#/history', 'data-test': 'history-newest'}, 'Newest');
  const newer = h('a', {class: 'button', 'data-test': 'history-newer'}, '← Newer');
  const older = h('a', {class: 'button', 'data-test': 'history-older'}, 'Older →');
  const list = h('div', {id: 'history', 'data-test': 'history'});
  container.append(h('section', {'data-test': 'page-history'}, h('h1', {}, 'History'), err,
    h('div', {class: 'pager'}, newest, newer, summary, older), list));

  const from = params.get('from');
  const limit = Math.min(1000, parseInt(params.get('limit') || String(LIMIT), 10) || LIMIT);
  let alive = true;
  api.get(withQuery('/api/history', {from, limit})).then((data) => {
    if (alive) render(data);
  }, (e) => { if (alive) showError(err, e, 'Cannot load the history'); });

  function render(data) {
    // Newest first, whichever order the server lists them in.
    const items = (data.items || []).slice().sort((a, b) => b.seq - a.seq);
    const hi = items.length ? items[0].seq : null;
    const lo = items.length ? items.at(-1).seq : null;
    summary.textContent = items.length ? 'records ' + lo + '–' + hi + ' of ' + data.first_seq + '–' + data.last_seq
      : 'no records';
    newer.hidden = hi === null || hi >= data.last_seq;
    newest.hidden = newer.hidden;
    newer.href = withQuery('#/history', {from: hi + 1, limit});
    older.hidden = lo === null || lo <= data.first_seq;
    const olderFrom = Math.max(data.first_seq, lo - limit);
    older.href = withQuery('#/history', {from: olderFrom, limit: lo - olderFrom});
    if (!items.length) { list.replaceChildren(h('p', {class: 'muted'}, 'The history is empty.')); return; }
    list.replaceChildren(scrollTable(h('table', {class: 'grid-table', id: 'history-table', 'data-test': 'history-table'},
      h('thead', {}, h('tr', {}, ['Seq', 'Origin', 'Time', 'Size', 'Changes', 'Entities'].map((c) => h('th', {}, c)))),
      h('tbody', {}, items.map((r) => h('tr', {'data-seq': r.seq, 'data-test': 'history-row'},
        h('td', {}, fmtNum(r.seq)), h('td', {}, originBadge(r.origin)),
        h('td', {}, fmtTime(r.time_ms)), h('td', {}, fmtBytes(r.bytes)), h('td', {}, fmtNum(r.changes)),
        h('td', {}, Object.entries(r.entities || {}).map(([e, n]) => e + ' ' + n).join(', '))))))));
  }
  return () => { alive = false; };
}

// ORIGIN: a pushing client's id, 'admin', 'mongo', or empty for the server's other local writes.
function originBadge(origin) {
  const kind = origin === 'admin' || origin === 'mongo' ? origin : (origin ? 'device' : 'local');
  return h('span', {class: 'badge origin-' + kind, title: kind}, origin || 'local');
}
