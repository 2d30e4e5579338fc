// Data: the entities with their counts, and one entity's objects: a query (the `outpost query`
// syntax), order, paging, a JSON view of one object, editing (PUT), creating (POST), deleting.

import {api, withQuery, enc} from './api.js';
import {h, errorBox, showError, scrollTable, fmtTime, fmtNum} from './dom.js';
import {openDetail, openCreate} from './data-object.js';

const LIMITS = [25, 50, 100, 500];

export function mount(container, {rest, params}) {
  const err = errorBox('data-error');
  const entityList = h('nav', {class: 'entity-list', id: 'entity-list', 'data-test': 'entity-list'});
  const body = h('div', {class: 'data-body', id: 'data-body'});
  container.append(h('section', {'data-test': 'page-data'},
    h('h1', {}, 'Data'), err, h('div', {class: 'data-layout'}, entityList, body)));

  const state = {
    entity: rest[0] || null,
    where: params.get('where') || '',
    order: params.get('order') || '',
    desc: params.get('desc') === '1',
    offset: Math.max(0, parseInt(params.get('offset') || '0', 10) || 0),
    limit: parseInt(params.get('limit') || '50', 10) || 50,
    model: null,
  };
  let alive = true;

  async function loadModel() {
    try {
      state.model = await api.get('/api/model');
      if (!alive) return;
      showError(err, null);
      renderEntities(entityList, state);
      if (!state.entity && state.model.entities.length) {
        location.replace('#/data/' + enc(state.model.entities[0].name));
        return;
      }
      const entity = state.model.entities.find((e) => e.name === state.entity);
      if (!entity) {
        body.replaceChildren(h('p', {class: 'error', 'data-test': 'data-unknown-entity'},
          'No entity named ' + state.entity));
        return;
      }
      renderEntity(body, state, entity, () => { if (alive) refreshCounts(); });
    } catch (e) {
      if (alive) showError(err, e, 'Cannot load the model');
    }
  }

  async function refreshCounts() {
    try {
      state.model = await api.get('/api/model');
      if (alive) renderEntities(entityList, state);
    } catch (e) { /* the counts stay as they were; the next page load shows the error */ }
  }

  loadModel();
  return () => { alive = false; };
}

function renderEntities(node, state) {
  node.replaceChildren(...state.model.entities.map((e) =>
    h('a', {href: '#/data/' + enc(e.name), class: 'entity' + (e.name === state.entity ? ' active' : ''),
      'data-entity': e.name, 'data-test': 'entity-' + e.name},
      h('span', {class: 'entity-name'}, e.name),
      h('span', {class: 'count', 'data-test': 'entity-count-' + e.name}, fmtNum(e.count)))));
}

function hashFor(state, changes) {
  const s = {...state, ...changes};
  return withQuery('#/data/' + enc(s.entity), {
    where: s.where, order: s.order, desc: s.desc ? '1' : '', offset: s.offset || '',
    limit: s.limit === 50 ? '' : s.limit});
}

function renderEntity(body, state, entity, onCountsChanged) {
  const where = h('input', {id: 'query-where', 'data-test': 'query-where', class: 'mono', value: state.where,
    placeholder: 'e.g. done == false AND text ^= "Buy"', autocomplete: 'off', spellcheck: 'false'});
  const order = h('select', {id: 'query-order', 'data-test': 'query-order'},
    h('option', {value: ''}, '(id)'),
    entity.properties.map((p) => h('option', {value: p.name}, p.name)));
  order.value = state.order;
  const desc = h('input', {type: 'checkbox', id: 'query-desc', 'data-test': 'query-desc', checked: state.desc});
  const limit = h('select', {id: 'query-limit', 'data-test': 'query-limit'},
    LIMITS.map((n) => h('option', {value: n}, n)));
  limit.value = String(LIMITS.includes(state.limit) ? state.limit : 50);
  const queryErr = h('div', {id: 'query-error', class: 'error', role: 'alert', 'data-test': 'query-error', hidden: true});
  const form = h('form', {class: 'query', id: 'query-form', 'data-test': 'query-form'},
    h('label', {class: 'grow'}, 'Where', where),
    h('label', {}, 'Order', order),
    h('label', {class: 'check'}, desc, 'descending'),
    h('label', {}, 'Per page', limit),
    h('button', {type: 'submit', class: 'primary', id: 'query-run', 'data-test': 'query-run'}, 'Run'),
    h('button', {type: 'button', id: 'object-new', 'data-test': 'object-new'}, 'New object'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = hashFor(state, {where: where.value.trim(), order: order.value, desc: desc.checked,
      offset: 0, limit: parseInt(limit.value, 10)});
    if (location.hash === next) load(); else location.hash = next;
  });

  const summary = h('span', {id: 'objects-summary', 'data-test': 'objects-summary'});
  const prev = h('a', {class: 'button', id: 'page-prev', 'data-test': 'page-prev'}, '← Previous');
  const next = h('a', {class: 'button', id: 'page-next', 'data-test': 'page-next'}, 'Next →');
  const table = h('div', {id: 'objects', 'data-test': 'objects'});
  const detail = h('div', {id: 'object-detail', class: 'card detail', 'data-test': 'object-detail', hidden: true});
  body.replaceChildren(h('h2', {}, entity.name), form, queryErr,
    h('div', {class: 'pager'}, prev, summary, next), detail, table);

  const ctx = {entity, detail, reload: () => { load(); onCountsChanged(); }};
  body.querySelector('#object-new').addEventListener('click', () => openCreate(ctx));

  async function load() {
    const path = withQuery('/api/entities/' + enc(entity.name) + '/objects', {
      where: state.where, order: state.order, desc: state.desc ? 1 : '', offset: state.offset, limit: state.limit});
    try {
      const page = await api.get(path);
      showQueryError(queryErr, where, state.where, null);
      renderPage(state, entity, page, {summary, prev, next, table}, (id) => openDetail(ctx, id));
    } catch (e) {
      showQueryError(queryErr, where, state.where, e);
      table.replaceChildren();
      summary.textContent = '';
      prev.hidden = next.hidden = true;
    }
  }
  load();
}

// Shows the refused query with a caret under the column the server named (1-based).
function showQueryError(node, input, text, e) {
  if (!e) { node.hidden = true; node.replaceChildren(); return; }
  const column = Number(e.detail?.column);
  const parts = [h('div', {'data-test': 'query-error-message'}, e.message + (e.status ? ' (' + e.status + ')' : ''))];
  if (column > 0) {
    parts.push(h('pre', {class: 'caret', 'data-test': 'query-error-caret'},
      text + '\n' + ' '.repeat(column - 1) + '^ column ' + column));
    input.setCustomValidity('');
    input.focus();
    input.setSelectionRange(column - 1, column - 1);
  }
  node.dataset.column = column > 0 ? String(column) : '';
  node.replaceChildren(...parts);
  node.hidden = false;
}

function renderPage(state, entity, page, ui, onOpen) {
  const items = page.items || [];
  const total = page.total ?? items.length;
  const first = items.length ? page.offset + 1 : 0;
  ui.summary.textContent = items.length ? first + '–' + (page.offset + items.length) + ' of ' + total
    : (total ? 'no objects on this page (' + total + ' in all)' : 'no objects');
  ui.prev.hidden = page.offset <= 0;
  ui.prev.href = hashFor(state, {offset: Math.max(0, page.offset - page.limit)});
  ui.next.hidden = page.offset + items.length >= total;
  ui.next.href = hashFor(state, {offset: page.offset + page.limit});

  const columns = entity.properties.map((p) => ({name: p.name, type: p.type}))
    .concat((entity.relations || []).map((r) => ({name: r.name, type: 'toMany'})));
  const head = h('tr', {}, columns.map((c) => h('th', {}, c.name)));
  const rows = items.map((o) => {
    const tr = h('tr', {class: 'clickable', tabindex: 0, 'data-id': o.id, 'data-test': 'object-row'},
      columns.map((c) => cell(o[c.name], c.type)));
    tr.addEventListener('click', () => onOpen(o.id));
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') onOpen(o.id); });
    return tr;
  });
  ui.table.replaceChildren(scrollTable(h('table', {class: 'grid-table', id: 'objects-table', 'data-test': 'objects-table'},
    h('thead', {}, head), h('tbody', {}, rows))));
}

function cell(v, type) {
  if (v === null || v === undefined) return h('td', {class: 'null'}, 'null');
  if (type === 'date' && typeof v === 'number') return h('td', {title: String(v)}, fmtTime(v));
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  const shown = text.length > 80 ? text.slice(0, 79) + '…' : text;
  return h('td', {title: text.length > 80 ? text.slice(0, 1000) : null}, shown);
}
