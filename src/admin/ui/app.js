// The admin UI: session (login, logout), navigation between the pages and their life cycle.
// Each page module exports mount(container, params) -> optional unmount function.

import {api, setCsrf, setUnauthorizedHandler} from './api.js';
import {byId, showError, clear} from './dom.js';
import * as statusPage from './page-status.js';
import * as dataPage from './page-data.js';
import * as schemaPage from './page-schema.js';
import * as clientsPage from './page-clients.js';
import * as historyPage from './page-history.js';
import * as mongoPage from './page-mongo.js';

const PAGES = {
  status: statusPage, data: dataPage, schema: schemaPage,
  clients: clientsPage, history: historyPage, mongo: mongoPage,
};

let unmount = null;
let loggedIn = false;
let lastPage = null;

// '#/data/Task?where=done%3D%3Dtrue' -> {page: 'data', rest: ['Task'], params: URLSearchParams}.
function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const page = PAGES[parts[0]] ? parts[0] : 'status';
  return {page, rest: parts.slice(1), params: new URLSearchParams(query || '')};
}

function route() {
  if (!loggedIn) return;
  if (unmount) { try { unmount(); } catch (e) { console.error(e); } }
  unmount = null;
  const {page, rest, params} = parseHash();
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === page);
    if (a.dataset.page === page) {
      a.setAttribute('aria-current', 'page');
      a.scrollIntoView({block: 'nearest', inline: 'nearest'});
    }
    else a.removeAttribute('aria-current');
  }
  const container = clear(byId('page'));
  container.dataset.page = page;
  if (page !== lastPage) window.scrollTo(0, 0);
  lastPage = page;
  const result = PAGES[page].mount(container, {rest, params});
  unmount = typeof result === 'function' ? result : null;
}

function showLogin(message) {
  loggedIn = false;
  if (unmount) { try { unmount(); } catch (e) { console.error(e); } }
  unmount = null;
  clear(byId('page'));
  setCsrf(null);
  byId('nav').hidden = true;
  byId('session').hidden = true;
  byId('login').hidden = false;
  showError(byId('login-error'), message ? {message} : null);
  byId('login-user').focus();
}

function enter(session) {
  loggedIn = true;
  setCsrf(session.csrf);
  byId('login').hidden = true;
  byId('nav').hidden = false;
  byId('session').hidden = false;
  byId('session-user').textContent = session.user;
  route();
}

async function login(event) {
  event.preventDefault();
  const button = byId('login-submit');
  button.disabled = true;
  try {
    const session = await api.post('/api/login', {
      user: byId('login-user').value, password: byId('login-password').value});
    byId('login-password').value = '';
    showError(byId('login-error'), null);
    enter(session);
  } catch (e) {
    const message = e.status === 401 ? 'Wrong user or password' : e.message;
    showError(byId('login-error'), {message, status: e.status});
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  try { await api.post('/api/logout'); } catch (e) { /* the session is gone either way */ }
  await openSession();
}

// Enters with the current session, or shows the login form. Without admin accounts (a loopback
// address) GET /api/session makes a session for the user `local`.
async function openSession() {
  try {
    enter(await api.get('/api/session'));
  } catch (e) {
    if (e.status === 401) showLogin();
    else showError(byId('boot-error'), e, 'Cannot load the session');
  }
}

async function start() {
  byId('login-form').addEventListener('submit', login);
  byId('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', route);
  setUnauthorizedHandler(() => showLogin('Your session ended: log in again'));
  await openSession();
}

start();
