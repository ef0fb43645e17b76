// The JSON API: same-origin fetch with the session cookie, and the CSRF
// header on every state-changing request.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') : '';
}

/** Calls `/api/...`; resolves to the parsed JSON (null for 204), throws ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached right now.');
  }
  if (res.status === 401) {
    window.location.assign('/login?ended=1');
    throw new ApiError(401, 'unauthorized', 'Your session has ended. Please log in again.');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const retry = res.headers.get('Retry-After');
    const message = data && data.message ? data.message : `Request failed (${res.status}).`;
    const err = new ApiError(res.status, data && data.error ? data.error : `http_${res.status}`, message);
    if (retry) err.retryAfter = Number(retry);
    throw err;
  }
  return data;
}

/** `ws://` or `wss://` (when the page is HTTPS) URL for a path. */
export function wsUrl(path) {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}${path}`;
}
