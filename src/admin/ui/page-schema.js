// Schema: the model's entities, properties (types, flags, indexes), relations and uids.

import {api} from './api.js';
import {h, errorBox, showError, scrollTable, fmtNum} from './dom.js';

export function mount(container) {
  const err = errorBox('schema-error');
  const list = h('div', {id: 'schema', 'data-test': 'schema'});
  container.append(h('section', {'data-test': 'page-schema'}, h('h1', {}, 'Schema'), err, list));
  let alive = true;
  api.get('/api/model').then((model) => {
    if (alive) list.replaceChildren(...model.entities.map(entityCard));
  }, (e) => { if (alive) showError(err, e, 'Cannot load the model'); });
  return () => { alive = false; };
}

function entityCard(e) {
  const props = h('table', {class: 'grid-table'},
    h('thead', {}, h('tr', {}, ['Property', 'Type', 'Flags', 'Target', 'Uid', 'Index uid'].map((t) => h('th', {}, t)))),
    h('tbody', {}, e.properties.map((p) => h('tr', {},
      h('td', {}, h('b', {}, p.name)), h('td', {}, p.type),
      h('td', {}, (p.flags || []).map((f) => h('span', {class: 'badge'}, f))),
      h('td', {}, p.target || ''), h('td', {class: 'mono'}, p.uid), h('td', {class: 'mono'}, p.index_uid || '')))));
  const rels = (e.relations || []).length ? [h('h3', {}, 'Relations'), scrollTable(h('table', {class: 'grid-table'},
    h('thead', {}, h('tr', {}, ['Relation', 'Target', 'Uid'].map((t) => h('th', {}, t)))),
    h('tbody', {}, e.relations.map((r) => h('tr', {},
      h('td', {}, h('b', {}, r.name)), h('td', {}, r.target), h('td', {class: 'mono'}, r.uid))))))] : [];
  return h('article', {class: 'card', 'data-entity': e.name, 'data-test': 'schema-entity'},
    h('h2', {}, e.name, ' ', h('span', {class: 'muted mono'}, e.uid)),
    h('p', {class: 'meta'},
      h('span', {}, fmtNum(e.count), ' objects'),
      h('span', {}, e.sync ? 'synced' : 'local only'),
      e.mongo_collection ? h('span', {}, 'MongoDB collection ', h('code', {}, e.mongo_collection)) : null),
    scrollTable(props), rels);
}
