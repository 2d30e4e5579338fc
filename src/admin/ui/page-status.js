// Status: the server's live figures (GET /api/status once a second) and charts of the last minutes.

import {api} from './api.js';
import {h, errorBox, showError, kvTable, fmtBytes, fmtNum, fmtDuration, fmtTime} from './dom.js';
import {lineChart} from './chart.js';

const WINDOW_MS = 5 * 60 * 1000;
const samples = [];  // kept while the UI is open, so the charts survive a visit to another page

export function mount(container) {
  const err = errorBox('status-error');
  const figures = h('div', {class: 'grid', id: 'status-figures', 'data-test': 'status-figures'});
  const charts = {
    clients: lineChart('Clients connected', ['clients'], 'chart-clients', WINDOW_MS),
    rates: lineChart('Rates (per second, last 10 s)', ['push txns', 'applied changes'], 'chart-rates', WINDOW_MS),
    mongo: lineChart('MongoDB lag', ['inbound s', 'outbound records'], 'chart-mongo', WINDOW_MS),
  };
  container.append(
    h('section', {'data-test': 'page-status'},
      h('h1', {}, 'Status'), err,
      h('div', {class: 'grid charts'}, charts.clients.node, charts.rates.node, charts.mongo.node),
      figures));

  let timer = null;
  let stopped = false;
  async function tick() {
    try {
      const s = await api.get('/api/status');
      if (stopped) return;
      showError(err, null);
      record(s);
      render(figures, s);
      charts.clients.draw(series(0));
      charts.rates.draw(series(1, 2));
      charts.mongo.node.hidden = !s.mongo;
      if (s.mongo) charts.mongo.draw(series(3, 4));
    } catch (e) {
      if (!stopped) showError(err, e, 'Cannot load the status');
    }
    if (!stopped) timer = setTimeout(tick, 1000);
  }
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function record(s) {
  const sync = s.sync || {};
  const mongo = s.mongo || {};
  samples.push({t: Date.now(), values: [
    sync.clients_connected, sync.push_txns_per_s, sync.applied_changes_per_s,
    mongo.inbound?.lag_s, mongo.outbound?.lag_records]});
  while (samples.length && samples[0].t < Date.now() - WINDOW_MS) samples.shift();
}

function series(...indexes) {
  return samples.map((s) => ({t: s.t, values: indexes.map((i) => s.values[i])}));
}

function render(node, s) {
  const sync = s.sync || {};
  const store = sync.store || {};
  const hist = sync.history || {};
  const cards = [
    h('div', {class: 'card'}, h('h2', {}, 'Server'), kvTable([
      ['Version', s.version, 'status-version'],
      ['Uptime', fmtDuration(s.uptime_s), 'status-uptime'],
      ['Server time', fmtTime(s.now_ms)],
    ])),
    h('div', {class: 'card'}, h('h2', {}, 'Sync'), kvTable([
      ['Clients connected', fmtNum(sync.clients_connected), 'status-clients'],
      ['Push transactions/s', fmtNum(sync.push_txns_per_s), 'status-push-rate'],
      ['Applied changes/s', fmtNum(sync.applied_changes_per_s), 'status-apply-rate'],
      ['Fan-out changes/s', fmtNum(sync.fanout_changes_per_s)],
      ['Logins', fmtNum(sync.logins_total)],
      ['Full syncs', fmtNum(sync.full_syncs_total)],
    ])),
    h('div', {class: 'card'}, h('h2', {}, 'Store'), kvTable([
      ['Path', store.path],
      ['File size', fmtBytes(store.size_bytes), 'status-store-size'],
      ['Map used', h('span', {}, fmtBytes(store.map_used_bytes), ' of ', fmtBytes(store.map_size_bytes), ' ',
        h('meter', {min: 0, max: store.map_size_bytes || 1, value: store.map_used_bytes || 0}))],
    ])),
    h('div', {class: 'card'}, h('h2', {}, 'History'), kvTable([
      ['First seq', fmtNum(hist.first_seq)],
      ['Last seq', fmtNum(hist.last_seq), 'status-last-seq'],
      ['Records', fmtNum(hist.records)],
      ['Size', fmtBytes(hist.bytes)],
    ])),
  ];
  if (s.mongo) {
    const m = s.mongo;
    cards.push(h('div', {class: 'card'}, h('h2', {}, 'MongoDB'), kvTable([
      ['State', h('span', {class: 'badge state-' + m.state}, m.state), 'status-mongo-state'],
      ['Last error', m.last_error || '–'],
      ['Inbound lag', m.inbound ? fmtNum(m.inbound.lag_s) + ' s' : '–'],
      ['Outbound lag', m.outbound ? fmtNum(m.outbound.lag_records) + ' records' : '–'],
      ['Dead letters', fmtNum(m.dead_letters), 'status-dead-letters'],
    ])));
  } else {
    cards.push(h('div', {class: 'card'}, h('h2', {}, 'MongoDB'), h('p', {class: 'muted', 'data-test': 'status-mongo-none'}, 'No connector configured.')));
  }
  node.replaceChildren(...cards);
}
