// The admin API's client (docs/admin-api.md): JSON in and out, the session's CSRF token on every
// request that changes something, errors as ApiError with the server's error object.

let csrfToken = null;
let onUnauthorized = null;

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;    // the HTTP status, 0 when the server could not be reached
    this.detail = detail;    // the body's "error" object ({status, message, column?, ...})
  }
}

export function setCsrf(token) { csrfToken = token; }

// HANDLER(path) runs when a request other than the session's own answers 401 (the session ended).
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

async function send(method, path, body, raw) {
  const headers = {Accept: 'application/json'};
  const init = {method, headers, credentials: 'same-origin', cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'cannot reach the server (' + e.message + ')', {});
  }
  const text = res.status === 204 ? '' : await res.text();
  if (!res.ok) {
    let detail = {};
    try { detail = JSON.parse(text).error || {}; } catch (e) { /* not JSON: use the status line */ }
    const message = detail.message || (res.status + ' ' + res.statusText).trim();
    if (res.status === 401 && onUnauthorized && !path.startsWith('/api/session') &&
        !path.startsWith('/api/login')) {
      onUnauthorized(path);
    }
    throw new ApiError(res.status, message, detail);
  }
  if (raw) return text;
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(res.status, 'the server sent a body that is not JSON', {});
  }
}

export const api = {
  get: (path) => send('GET', path),
  // The body as the server sent it (keeps 64-bit integers that JSON.parse would round).
  getText: (path) => send('GET', path, undefined, true),
  post: (path, body) => send('POST', path, body),
  put: (path, body) => send('PUT', path, body),
  del: (path) => send('DELETE', path),
};

// PATH with the query parameters of PARAMS that are set (not undefined, null or '').
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? path + '?' + s : path;
}

export const enc = encodeURIComponent;
