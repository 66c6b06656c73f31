// api-origin.js - where the examples find the API: the page's own origin (the edge serves
// the pages, /v1 and /ws together), or ?api=<origin>, an edge on another origin of the same
// host (deploy/local: MC_EDGE_XORIGIN_PORT), which must allow this page's origin
// (MC_CORS_ORIGINS, MC_WS_ORIGINS). Another host is refused: the demo tokens would go there.

/** The API's origin for connect({url}), or undefined for the page's own. */
export function apiOrigin() {
  const given = new URLSearchParams(location.search).get('api');
  if (!given) return undefined;
  let url;
  try {
    url = new URL(given);
  } catch {
    throw new Error(`?api=${given}: not a URL`);
  }
  if (!/^https?:$/.test(url.protocol) || url.hostname !== location.hostname) {
    throw new Error(`?api=${given}: only an origin on this page's host (${location.hostname}) is used`);
  }
  return url.origin;
}
