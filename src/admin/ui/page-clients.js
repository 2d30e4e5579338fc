// Clients: the devices connected now (GET /api/clients every 2 s), each with a Disconnect button.

import {api, enc} from './api.js';
import {h, errorBox, showError, scrollTable, fmtBytes, fmtNum, fmtTime} from './dom.js';

export function mount(container) {
  const err = errorBox('clients-error');
  const count = h('span', {id: 'clients-count', 'data-test': 'clients-count'});
  const list = h('div', {id: 'clients', 'data-test': 'clients'});
  container.append(h('section', {'data-test': 'page-clients'},
    h('h1', {}, 'Clients ', count), err, list));
  const rowErrors = new Map();  // client_id -> message, kept across refreshes
  let stopped = false;
  let timer = null;
  let last = '';

  async function refresh() {
    clearTimeout(timer);
    try {
      const data = await api.get('/api/clients');
      if (stopped) return;
      showError(err, null);
      const key = JSON.stringify(data.items) + JSON.stringify([...rowErrors]);
      if (key !== last) { last = key; render(data.items || []); }
    } catch (e) {
      if (!stopped) showError(err, e, 'Cannot load the clients');
    }
    if (!stopped) timer = setTimeout(refresh, 2000);
  }

  async function disconnect(id, button) {
    button.disabled = true;
    try {
      await api.post('/api/clients/' + enc(id) + '/disconnect');
      rowErrors.delete(String(id));
    } catch (e) {
      rowErrors.set(String(id), e.message + ' (' + e.status + ')');
    }
    refresh();
  }

  function render(items) {
    count.textContent = '(' + items.length + ')';
    if (!items.length) {
      list.replaceChildren(h('p', {class: 'muted', 'data-test': 'clients-empty'}, 'No client is connected.'));
      return;
    }
    const cols = ['', 'Client id', 'User', 'Address', 'Connected since', 'Protocol', 'Last acked seq', 'Lag (records)',
      'Queued', 'In', 'Out', 'Full sync'];
    list.replaceChildren(scrollTable(h('table', {class: 'grid-table', id: 'clients-table', 'data-test': 'clients-table'},
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))),
      h('tbody', {}, items.map((c) => {
        const button = h('button', {type: 'button', class: 'danger small', 'data-test': 'client-disconnect'}, 'Disconnect');
        button.addEventListener('click', () => disconnect(c.client_id, button));
        const rowErr = rowErrors.get(String(c.client_id));
        const id = String(c.client_id);
        return h('tr', {'data-client-id': c.client_id, 'data-session': c.session, 'data-test': 'client-row'},
          h('td', {}, button, rowErr ? h('div', {class: 'error', 'data-test': 'client-error'}, rowErr) : null),
          h('td', {class: 'mono', title: id}, id.length > 16 ? id.slice(0, 16) + '…' : id),
          h('td', {}, c.user || '–'), h('td', {class: 'mono'}, c.address),
          h('td', {}, fmtTime(c.connected_ms)), h('td', {}, c.protocol_version), h('td', {}, fmtNum(c.last_acked_seq)),
          h('td', {}, fmtNum(c.lag_records)), h('td', {class: 'nowrap'}, fmtBytes(c.queued_bytes)),
          h('td', {class: 'nowrap'}, fmtBytes(c.bytes_in)), h('td', {class: 'nowrap'}, fmtBytes(c.bytes_out)),
          h('td', {}, c.full_sync ? 'yes' : 'no'));
      })))));
  }

  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
