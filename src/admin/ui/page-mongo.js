// MongoDB: the connector's state and lag, dead letters (retry, discard) and imports (progress, start a
// full import). Refreshed every second while open.

import {api, withQuery, enc} from './api.js';
import {h, errorBox, showError, kvTable, scrollTable, fmtNum, fmtTime, prettyJson} from './dom.js';

const DL_LIMIT = 50;

export function mount(container, {params}) {
  const err = errorBox('mongo-error');
  const state = h('div', {id: 'mongo-state-card', class: 'grid'});
  const dead = h('div', {id: 'dead-letters', 'data-test': 'dead-letters'});
  const dlSummary = h('span', {id: 'dead-letters-summary', 'data-test': 'dead-letters-summary'});
  const dlMsg = h('p', {id: 'dead-letters-message', class: 'ok', 'data-test': 'dead-letters-message', hidden: true});
  const running = h('div', {id: 'import-running', 'data-test': 'import-running'});
  const imports = h('div', {id: 'imports', 'data-test': 'imports'});
  const start = h('button', {type: 'button', class: 'primary', id: 'import-start', 'data-test': 'import-start'},
    'Start full import');
  const importErr = errorBox('import-error');
  const importMsg = h('p', {id: 'import-message', class: 'ok', 'data-test': 'import-message', hidden: true});
  container.append(h('section', {'data-test': 'page-mongo'}, h('h1', {}, 'MongoDB'), err, state,
    h('div', {class: 'card'}, h('h2', {}, 'Dead letters ', dlSummary), dlMsg, dead),
    h('div', {class: 'card'}, h('h2', {}, 'Imports'), h('div', {class: 'actions'}, start), importErr, importMsg,
      running, imports)));

  const offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  const rowErrors = new Map();  // dead letter id -> message, kept across refreshes
  const open = new Set();       // dead letter ids whose raw document is shown
  let stopped = false;
  let timer = null;
  const last = {state: '', dead: '', imports: ''};

  async function refresh() {
    clearTimeout(timer);
    try {
      const [m, dl, im] = await Promise.all([api.get('/api/mongo'),
        api.get(withQuery('/api/mongo/dead-letters', {offset, limit: DL_LIMIT})), api.get('/api/mongo/imports')]);
      if (stopped) return;
      showError(err, null);
      changed('state', m, () => renderState(state, m));
      changed('dead', [dl, [...rowErrors], [...open]], () => renderDead(dl));
      changed('imports', im, () => renderImports(im));
    } catch (e) {
      if (stopped) return;
      if (e.status === 404) {
        state.replaceChildren(h('p', {class: 'muted', 'data-test': 'mongo-none'},
          'This server runs without a MongoDB connector.'));
        showError(err, null);
        return;
      }
      showError(err, e, 'Cannot load the connector');
    }
    if (!stopped) timer = setTimeout(refresh, busy ? 250 : 1000);
  }

  function changed(key, value, render) {
    const s = JSON.stringify(value);
    if (s !== last[key]) { last[key] = s; render(); }
  }

  function renderDead(dl) {
    const items = dl.items || [];
    dlSummary.textContent = '(' + dl.total + ')';
    const pager = h('div', {class: 'pager'},
      offset > 0 ? h('a', {class: 'button', href: withQuery('#/mongo', {offset: Math.max(0, offset - DL_LIMIT)})},
        '← Previous') : null,
      offset + items.length < dl.total ? h('a', {class: 'button', href: withQuery('#/mongo', {offset: offset + DL_LIMIT})},
        'Next →') : null);
    if (!items.length) {
      dead.replaceChildren(h('p', {class: 'muted', 'data-test': 'dead-letters-empty'}, 'No dead letters.'), pager);
      return;
    }
    dead.replaceChildren(scrollTable(h('table', {class: 'grid-table', id: 'dead-letters-table',
      'data-test': 'dead-letters-table'},
    h('thead', {}, h('tr', {}, ['Id', 'Direction', 'Collection', 'Document key', 'Reason', 'Time', ''].map((c) => h('th', {}, c)))),
    h('tbody', {}, items.map(deadRow)))), pager);
  }

  function deadRow(d) {
    const id = String(d.id);
    const retry = h('button', {type: 'button', class: 'small', 'data-test': 'dl-retry'}, 'Retry');
    const discard = h('button', {type: 'button', class: 'small danger', 'data-test': 'dl-discard'}, 'Discard');
    const toggle = h('button', {type: 'button', class: 'small link', 'data-test': 'dl-raw-toggle'},
      open.has(id) ? 'Hide document' : 'Show document');
    retry.addEventListener('click', () => act(id, 'retry', retry));
    discard.addEventListener('click', () => act(id, 'discard', discard));
    toggle.addEventListener('click', () => { if (open.has(id)) open.delete(id); else open.add(id); refresh(); });
    const rowErr = rowErrors.get(id);
    const raw = typeof d.raw === 'string' ? prettyJson(d.raw) : JSON.stringify(d.raw, null, 2);
    return [
      h('tr', {'data-id': id, 'data-test': 'dead-letter-row'},
        h('td', {}, id), h('td', {}, d.direction), h('td', {}, d.collection),
        h('td', {class: 'mono'}, typeof d.document_key === 'string' ? d.document_key : JSON.stringify(d.document_key)),
        h('td', {class: 'reason', 'data-test': 'dl-reason'}, d.reason), h('td', {}, fmtTime(d.time_ms)),
        h('td', {class: 'nowrap'}, retry, discard, toggle)),
      rowErr ? h('tr', {class: 'row-error'}, h('td', {colspan: 7, class: 'error', 'data-test': 'dl-error',
        'data-id': id}, rowErr)) : null,
      open.has(id) ? h('tr', {class: 'raw'}, h('td', {colspan: 7}, h('pre', {class: 'json', 'data-test': 'dl-raw'}, raw))) : null,
    ];
  }

  async function act(id, what, button) {
    button.disabled = true;
    try {
      if (what === 'retry') {
        const r = await api.post('/api/mongo/dead-letters/' + enc(id) + '/retry');
        dlMsg.textContent = 'Dead letter ' + id + ': ' + (r && r.result ? r.result : 'applied') + '.';
      } else {
        await api.del('/api/mongo/dead-letters/' + enc(id));
        dlMsg.textContent = 'Dead letter ' + id + ' discarded.';
      }
      dlMsg.hidden = false;
      rowErrors.delete(id);
      open.delete(id);
    } catch (e) {
      dlMsg.hidden = true;
      rowErrors.set(id, (what === 'retry' ? 'Still fails: ' : 'Discard failed: ') + e.message + ' (' + e.status + ')');
    }
    refresh();
  }

  // Once an import ran while the page was open (or was started here), its bar stays, full, when it
  // ends. WATCH_AFTER: the start of the newest import that had ended then (undefined: none watched).
  // REQUESTED: started here, not yet seen running or ended (the connector begins it a little later).
  let watchAfter;
  let newestEnded = null;
  let requested = false;
  let busy = false;  // an import requested or running: the page refreshes 4 times a second

  function renderImports(im) {
    const r = im.running;
    const items = (im.items || []).slice().sort((a, b) => b.started_ms - a.started_ms);  // newest first
    const ended = watchAfter !== undefined && items.length && items[0].started_ms !== watchAfter;
    if (r || ended) requested = false;
    busy = Boolean(r) || requested;
    start.disabled = busy;
    newestEnded = items.length ? items[0].started_ms : null;
    if (r) {
      if (watchAfter === undefined) watchAfter = newestEnded;
      running.replaceChildren(progressBlock(runningLabel(r), r.docs_done, r.docs_total));
    } else if (requested) {
      running.replaceChildren(progressBlock(
        h('p', {'data-test': 'import-requested'}, 'Import requested: waiting for the connector to begin it.'), 0, 0));
    } else if (ended) {
      const last = items[0];
      running.replaceChildren(progressBlock(
        h('p', {'data-test': 'import-finished', class: last.error ? 'error' : 'ok'},
          last.error ? 'Import failed at ' + fmtTime(last.finished_ms) + ': ' + last.error
            : 'Import finished at ' + fmtTime(last.finished_ms) + ': ' + fmtNum(last.docs_read) +
              ' documents read, ' + fmtNum(last.added) + ' objects added, ' + fmtNum(last.updated) + ' updated, ' +
              fmtNum(last.removed) + ' removed.'),
        last.docs_read, last.error ? undefined : last.docs_read));
    } else {
      running.replaceChildren(h('p', {class: 'muted', 'data-test': 'import-idle'}, 'No import is running.'));
    }
    imports.replaceChildren(items.length ? scrollTable(h('table', {class: 'grid-table', id: 'imports-table',
      'data-test': 'imports-table'},
    h('thead', {}, h('tr', {}, ['Started', 'Finished', 'Reason', 'Collections', 'Read', 'Added', 'Updated', 'Removed',
      'Dead letters', 'Error'].map((c) => h('th', {}, c)))),
    h('tbody', {}, items.map((i) => h('tr', {'data-test': 'import-row'},
      h('td', {}, fmtTime(i.started_ms)), h('td', {}, fmtTime(i.finished_ms)),
      h('td', {}, i.reason, i.automatic ? ' (automatic)' : ''),
      h('td', {}, Array.isArray(i.collections) ? i.collections.join(', ') : fmtNum(i.collections)),
      h('td', {}, fmtNum(i.docs_read)), h('td', {}, fmtNum(i.added)), h('td', {}, fmtNum(i.updated)),
      h('td', {}, fmtNum(i.removed)), h('td', {}, fmtNum(i.dead_letters)),
      h('td', {class: i.error ? 'error' : ''}, i.error || '')))))) : h('p', {class: 'muted'}, 'No imports yet.'));
  }

  start.addEventListener('click', async () => {
    start.disabled = true;
    if (watchAfter === undefined) watchAfter = newestEnded;
    showError(importErr, null);
    importMsg.hidden = true;
    try {
      await api.post('/api/mongo/imports');
      requested = true;
      importMsg.textContent = 'Full import started.';
      importMsg.hidden = false;
    } catch (e) {
      showError(importErr, e, 'Cannot start an import');
    }
    last.imports = '';
    refresh();
  });

  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

// What the import R is doing. Its `collections` is a count (an array of names is taken too).
function runningLabel(r) {
  const cols = Array.isArray(r.collections) ? r.collections.length : r.collections;
  const inCollection = r.collection_docs_total !== undefined
    ? [' (', fmtNum(r.collection_docs_done), ' of ', fmtNum(r.collection_docs_total), ')'] : [];
  return h('p', {'data-test': 'import-status'}, 'Running since ', fmtTime(r.started_ms), ' (', r.reason || 'requested',
    '): ', h('b', {'data-test': 'import-collection'}, r.collection || '–'), inCollection,
    cols ? [', collection ', Math.min(r.collections_done + 1, cols), ' of ', cols] : null,
    r.docs_per_s ? [', ', fmtNum(Math.round(r.docs_per_s)), ' documents/s'] : null);
}

// A progress bar of DONE of TOTAL documents under LABEL (an empty bar while TOTAL is unknown; TOTAL
// is an estimate until every collection is read, so DONE may pass it: the bar is full then).
function progressBlock(label, done, total) {
  return h('div', {class: 'progress-block'}, label,
    h('progress', {id: 'import-progress', 'data-test': 'import-progress', max: Math.max(total || 0, done || 0, 1),
      value: total ? done : 0}),
    h('p', {class: 'muted', 'data-test': 'import-docs'}, fmtNum(done), ' of ', fmtNum(total), ' documents'));
}

function renderState(node, m) {
  const inb = m.inbound || {};
  const out = m.outbound || {};
  node.replaceChildren(
    h('div', {class: 'card'}, h('h2', {}, 'Connector'), kvTable([
      ['State', h('span', {class: 'badge state-' + m.state, id: 'mongo-state'}, m.state), 'mongo-state-value'],
      ['Last error', m.last_error ? h('span', {class: 'error'}, m.last_error) : '–', 'mongo-last-error'],
      m.inbound_stopped ? ['Inbound', h('span', {class: 'error'}, 'stopped (strict conversions)'), 'mongo-inbound-stopped']
        : null,
      ['URL', h('span', {class: 'mono'}, m.url)],
      ['Database', m.database],
      ['Server id', m.server_id],
      ['Dead letters', [fmtNum(m.dead_letters), m.dead_letters_total !== undefined
        ? ' kept (' + fmtNum(m.dead_letters_total) + ' since start)' : ''], 'mongo-dead-letters'],
      ['Retries', fmtNum(m.retries)],
    ])),
    h('div', {class: 'card'}, h('h2', {}, 'Inbound (MongoDB → server)'), kvTable([
      ['Lag', inb.lag_s === undefined || inb.lag_s === null ? '–' : fmtNum(inb.lag_s) + ' s', 'mongo-inbound-lag'],
      ['Pending events', fmtNum(inb.pending_events)],
      ['Last event', fmtTime(inb.last_event_ms)],
      ['Events', fmtNum(inb.events_total)],
      ['Transactions', fmtNum(inb.txns_total)],
      ['Echoes skipped', fmtNum(inb.echoes_skipped)],
      ['Resume token', h('span', {class: 'mono wrap'}, typeof inb.resume_token === 'string' ? inb.resume_token
        : JSON.stringify(inb.resume_token ?? null))],
    ])),
    h('div', {class: 'card'}, h('h2', {}, 'Outbound (server → MongoDB)'), kvTable([
      ['Position', fmtNum(out.position)],
      ['History head', fmtNum(out.server_head)],
      ['Lag', fmtNum(out.lag_records) + ' records', 'mongo-outbound-lag'],
      ['Documents written', fmtNum(out.docs_total)],
      ['Transactions', fmtNum(out.txns_total)],
    ])));
}
