/**
 * Splitlab's seed-003 Experiments API client: the module seed 003 imports as
 * `@/lib/api/experiments`. Dependency-free; uses the global `fetch` (Node >= 20, browsers).
 *
 * Server URL: `configure({ baseUrl })`, else `SPLITLAB_URL` in Node, else `''` (relative
 * URLs, for a browser app served beside the API). Bearer token: `configure({ token })`, else
 * `SPLITLAB_TOKEN` in Node, else none (seed 003: "no authentication is required").
 */

const OPTIONS = ['baseUrl', 'token', 'fetch'];
const overrides = { baseUrl: undefined, token: undefined, fetch: undefined };

/** An error answer (or no answer) from the API: `status` 0 means the request never completed. */
export class ExperimentsApiError extends Error {
  constructor(message, { status, code, details, body, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ExperimentsApiError';
    /** HTTP status (0: network failure). */
    this.status = status;
    /** Splitlab's machine-readable code, e.g. `experiment_not_found`, when it sent one. */
    this.code = code;
    this.details = details;
    /** The parsed JSON error body (or its text when it was not JSON). */
    this.body = body;
  }
}

/**
 * Set the server URL, bearer token and/or `fetch` implementation; a key given as `undefined`
 * goes back to its default. Returns the previous settings, to restore with `configure(previous)`.
 * @param {{baseUrl?: string, token?: string, fetch?: typeof fetch}} options
 */
export function configure(options = {}) {
  const unknown = Object.keys(options).filter((key) => !OPTIONS.includes(key));
  if (unknown.length) throw new TypeError(`configure: unknown option(s) ${unknown.join(', ')}`);
  const previous = { ...overrides };
  for (const key of OPTIONS) if (key in options) overrides[key] = options[key];
  return previous;
}

function env(name) {
  return globalThis.process?.env?.[name] || undefined;
}

async function request(method, query, body) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') params.append(name, String(value));
  }
  const base = (overrides.baseUrl ?? env('SPLITLAB_URL') ?? '').replace(/\/+$/, '');
  const search = params.toString();
  const url = `${base}/api/experiments${search ? `?${search}` : ''}`;
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = overrides.token ?? env('SPLITLAB_TOKEN');
  if (token) headers.Authorization = `Bearer ${token}`;
  const send = overrides.fetch ?? globalThis.fetch;
  let response;
  try {
    const json = body === undefined ? undefined : JSON.stringify(body);
    response = await send(url, { method, headers, body: json });
  } catch (cause) {
    throw new ExperimentsApiError(`${method} ${url} failed: ${cause?.message ?? cause}`, {
      status: 0,
      code: 'network_error',
      cause,
    });
  }
  const text = await response.text();
  let payload = null;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = undefined; // not JSON
  }
  if (!response.ok) {
    const said = typeof payload?.error === 'string' ? payload.error : undefined;
    throw new ExperimentsApiError(said ?? `HTTP ${response.status} from ${method} ${url}`, {
      status: response.status,
      code: payload?.code,
      details: payload?.details,
      body: payload === undefined ? text : payload,
    });
  }
  if (payload === undefined) {
    throw new ExperimentsApiError(`${method} ${url} answered ${response.status}, not with JSON`, {
      status: response.status,
      code: 'invalid_response',
      body: text,
    });
  }
  return payload;
}

function changeStatus(id, status, metrics) {
  const body = metrics === undefined ? { id, status } : { id, status, metrics };
  return request('PATCH', undefined, body);
}

/**
 * A page of a workspace's experiments: `{ data, meta: { page, limit, total, totalPages } }`.
 * @param {string} workspaceId
 * @param {{page?: number, limit?: number, status?: 'active'|'inactive'|'completed',
 *   sortBy?: string, sortOrder?: 'asc'|'desc'}} [options] defaults: 1, 10, any, createdAt, desc
 */
export function getExperimentsByWorkspace(workspaceId, options = {}) {
  const { page, limit, status, sortBy, sortOrder } = options;
  return request('GET', { workspaceId, status, page, limit, sortBy, sortOrder });
}

/**
 * A page of the workspace's active experiments (`status=active`), shaped as above.
 * @param {string} workspaceId
 * @param {{page?: number, limit?: number, sortBy?: string, sortOrder?: 'asc'|'desc'}} [options]
 */
export function getActiveExperiments(workspaceId, options = {}) {
  return getExperimentsByWorkspace(workspaceId, { ...options, status: 'active' });
}

/**
 * Create an experiment; resolves to it (status `inactive` unless `body.status` says otherwise).
 * @param {{name: string, workspaceId: string, description?: string, variantId?: string,
 *   status?: 'active'|'inactive', startDate?: string, endDate?: string, metrics?: object,
 *   createdBy?: string}} body
 */
export function createExperiment(body) {
  return request('POST', undefined, body);
}

/** Activate (start or resume) an experiment; sets `startDate` unless set. @param {string} id */
export function activateExperiment(id) {
  return changeStatus(id, 'active');
}

/** Deactivate (pause) an experiment. @param {string} id */
export function deactivateExperiment(id) {
  return changeStatus(id, 'inactive');
}

/**
 * Complete an experiment, recording its final metrics when given; sets `endDate` unless set.
 * @param {string} id
 * @param {object} [metrics]
 */
export function completeExperiment(id, metrics) {
  return changeStatus(id, 'completed', metrics);
}
