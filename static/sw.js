// The service worker of the installable web app (served at /sw.js so that
// its scope is the whole site). It exists so that browsers offer to install
// SecureChat and so that the app's own code (the /static/ JS, CSS, icons)
// loads when the network is slow or gone.
//
// It caches the shell ONLY, on purpose:
// - never /api/*, /ws/*, /files/* or any page: those carry messages, file
//   contents, session-bound HTML (the CSRF token, who is logged in) and
//   answers that differ per user. Kept in Cache Storage they would outlive
//   logout, be readable by any script of the origin without the server's
//   say, and bring back messages that were deleted or that the user may no
//   longer see (removed from a group). The server is the only source of
//   conversation data; offline the page says it is reconnecting.
// - /static/ assets are fetched network-first: a new release's files are
//   used as soon as the server has them (versioned URLs `?v=` change, and
//   modules imported without `?v` revalidate), and the cached copy is only
//   the fallback when the network fails. Stale-while-revalidate would run
//   one release's app.js with the previous release's modules.
// Old caches are deleted when a new worker takes over.

const CACHE = 'securechat-shell-v1';

/** What may be cached: same-origin GETs under /static/, nothing else. */
function cacheable(request) {
  if (request.method !== 'GET') return false;
  const url = new URL(request.url);
  return url.origin === self.location.origin && url.pathname.startsWith('/static/');
}

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') {
      await cache.put(request, response.clone());
    }
    return response;
  } catch (e) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw e;
  }
}

self.addEventListener('fetch', (event) => {
  // Everything else is left to the browser, as if there were no worker.
  if (cacheable(event.request)) event.respondWith(networkFirst(event.request));
});
