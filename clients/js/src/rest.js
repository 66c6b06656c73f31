// rest.js - HTTP calls to model-api (GET /v1/channels included) with the caller's token;
// a token the server calls expired is refreshed through getToken once, and the call retried.
import { ModelcastError } from './errors.js';

/** The caller's token: a fixed one, or getToken(reason) called when one is needed. */
export class Tokens {
  constructor(token, getToken) {
    this.value = token ?? null;
    this.getToken = typeof getToken === 'function' ? getToken : null;
    this.known = token !== undefined || !this.getToken;
    this.pending = null;
  }

  get canRefresh() {
    return this.getToken !== null;
  }

  /** The token to use now (asks getToken('initial') the first time). */
  async current() {
    if (!this.known) await this.refresh('initial');
    return this.value;
  }

  /** Asks getToken(reason) for a new token; concurrent callers share one call. */
  refresh(reason) {
    if (!this.getToken) return Promise.resolve(this.value);
    if (!this.pending) {
      this.pending = (async () => {
        try {
          const t = await this.getToken(reason);
          this.value = t ?? null;
          this.known = true;
          return this.value;
        } finally {
          this.pending = null;
        }
      })();
    }
    return this.pending;
  }
}

function queryString(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of params) q.append(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class Rest {
  constructor({ apiUrl, channelsUrl, tokens, fetch }) {
    this.apiUrl = apiUrl.replace(/\/+$/, '');
    this.channelsUrl = channelsUrl;
    this.tokens = tokens;
    this.fetch = fetch;
  }

  /**
   * One call. path is under apiUrl ("/v1/Todo") unless url is given; params is a list of
   * [name, value] pairs. Resolves with {status, body, headers}; rejects with ModelcastError.
   */
  async call(method, path, { params, body, headers, url } = {}, retried = false) {
    const token = await this.tokens.current();
    const h = { Accept: 'application/json', ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const target = (url || this.apiUrl + path) + queryString(params);
    let res;
    try {
      res = await this.fetch(target, {
        method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ModelcastError(0, { code: 'network', message: `${method} ${target}: ${e.message}` }, e);
    }
    const text = res.status === 204 ? '' : await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.ok) return { status: res.status, body: json, headers: res.headers };
    const error = json && json.error && typeof json.error === 'object' ? json.error : {
      code: res.status >= 500 ? 'unavailable' : 'http_error',
      message: `${method} ${target} answered ${res.status}`,
    };
    if (res.status === 401 && error.code === 'invalid_token' && error.details?.reason === 'expired' &&
        !retried && this.tokens.canRefresh) {
      await this.tokens.refresh('expired');
      return this.call(method, path, { params, body, headers, url }, true);
    }
    throw new ModelcastError(res.status, error);
  }

  async get(path, params) {
    return (await this.call('GET', path, { params })).body;
  }

  async channels() {
    return (await this.channelAccess()).channels;
  }

  /**
   * GET /v1/channels: {channels: the names to subscribe to, anyInstance: the instance
   * channel classes the caller may join for any id} (an older server sends no any_instance).
   */
  async channelAccess() {
    const body = (await this.call('GET', '/v1/channels', { url: this.channelsUrl })).body || {};
    return {
      channels: Array.isArray(body.channels) ? body.channels : [],
      anyInstance: Array.isArray(body.any_instance) ? body.any_instance : [],
    };
  }
}
