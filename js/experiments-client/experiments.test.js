// Seed 003's JavaScript examples, run as written against a real `splitlab serve`.
//
//   SPLITLAB_URL=http://127.0.0.1:8000 node --import ./alias.mjs --test experiments.test.js
//
// The server must accept requests without a token (SPLITLAB_ANONYMOUS_ACCESS=experiment): the
// examples carry none. SPLITLAB_TEST_ADMIN_TOKEN (the server's SPLITLAB_ADMIN_TOKEN) is needed by
// the one test that configures a token. Run by tests/e2e/test_seed003_js_client.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import {
  getExperimentsByWorkspace,
  getActiveExperiments,
  createExperiment,
  activateExperiment,
  deactivateExperiment,
  completeExperiment
} from '@/lib/api/experiments';
import { configure, ExperimentsApiError } from '@/lib/api/experiments';

assert.ok(process.env.SPLITLAB_URL, 'set SPLITLAB_URL to a running splitlab serve');
assert.equal(process.env.SPLITLAB_TOKEN, undefined, 'the seed examples run without a token');
const ADMIN_TOKEN = process.env.SPLITLAB_TEST_ADMIN_TOKEN;

/** A workspace id of its own for each test (and run): seed 003's `'workspace_id'`. */
const RUN = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const workspace = (name) => `seed003-${name}-${RUN}`;

/** Seed 003's timestamp format: JavaScript's `Date.toISOString()`. */
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const FIELDS = [
  'id', 'name', 'description', 'variantId', 'workspaceId', 'status', 'startDate', 'endDate',
  'metrics', 'createdBy', 'createdAt', 'updatedAt'
];

/** The ExperimentsApiError `call` rejects with, checked against what seed 003 documents. */
async function rejects(call, status, message) {
  let caught;
  await assert.rejects(call, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ExperimentsApiError, `not an ExperimentsApiError: ${caught}`);
  assert.ok(caught instanceof Error);
  assert.equal(caught.name, 'ExperimentsApiError');
  assert.equal(caught.status, status, caught.message);
  if (message !== undefined) assert.equal(caught.message, message);
  assert.equal(caught.body.error, caught.message, 'the message is the server\'s `error`');
  return caught;
}

test("seed 003 'Using the API Client Functions', as written, with no token", async () => {
  const workspace_id = workspace('example');
  // ---- the example; its placeholders 'workspace_id' and 'experiment_id' are variables ----
  // Get all experiments for a workspace
  const experiments = await getExperimentsByWorkspace(workspace_id, {
    page: 1,
    limit: 20
  });

  // Get only active experiments
  const activeExperiments = await getActiveExperiments(workspace_id);

  // Create a new experiment
  const newExperiment = await createExperiment({
    name: 'Homepage Redesign Test',
    description: 'Testing new homepage layout',
    workspaceId: workspace_id,
    variantId: 'variant_id',
    status: 'inactive'
  });
  const experiment_id = newExperiment.id;

  // Activate an experiment
  const activated = await activateExperiment(experiment_id);

  // Deactivate an experiment
  const deactivated = await deactivateExperiment(experiment_id);

  // Complete an experiment with final metrics
  const completed = await completeExperiment(experiment_id, {
    views: 10000,
    conversions: 500,
    conversionRate: 5
  });
  // ---- end of the example ----

  const empty = (limit) => ({ data: [], meta: { page: 1, limit, total: 0, totalPages: 0 } });
  assert.deepEqual(experiments, empty(20));
  assert.deepEqual(activeExperiments, empty(10));

  for (const field of FIELDS) assert.ok(field in newExperiment, `created: no ${field}`);
  assert.equal(typeof experiment_id, 'string');
  assert.ok(experiment_id.length > 0);
  assert.equal(newExperiment.name, 'Homepage Redesign Test');
  assert.equal(newExperiment.description, 'Testing new homepage layout');
  assert.equal(newExperiment.workspaceId, workspace_id);
  assert.equal(newExperiment.variantId, 'variant_id');
  assert.equal(newExperiment.status, 'inactive');
  assert.equal(newExperiment.startDate, null);
  assert.equal(newExperiment.endDate, null);
  assert.match(newExperiment.createdAt, ISO);
  assert.match(newExperiment.updatedAt, ISO);

  // preserveDates defaults to false: activating sets startDate, completing sets endDate.
  assert.equal(activated.id, experiment_id);
  assert.equal(activated.status, 'active');
  assert.match(activated.startDate, ISO);
  assert.ok(Date.parse(activated.startDate) >= Date.parse(newExperiment.createdAt));
  assert.equal(activated.endDate, null);

  assert.equal(deactivated.id, experiment_id);
  assert.equal(deactivated.status, 'inactive');
  assert.equal(deactivated.startDate, activated.startDate);
  assert.equal(deactivated.endDate, null);

  assert.equal(completed.id, experiment_id);
  assert.equal(completed.status, 'completed');
  assert.equal(completed.startDate, activated.startDate, 'completing keeps the startDate');
  assert.match(completed.endDate, ISO);
  assert.ok(Date.parse(completed.endDate) >= Date.parse(completed.startDate));
  assert.deepEqual(completed.metrics, { views: 10000, conversions: 500, conversionRate: 5 });

  // What the workspace holds afterwards, as the list shows it.
  const after = await getExperimentsByWorkspace(workspace_id, { page: 1, limit: 20 });
  assert.deepEqual(after.data, [completed]);
  assert.deepEqual(after.meta, { page: 1, limit: 20, total: 1, totalPages: 1 });
  assert.deepEqual((await getActiveExperiments(workspace_id)).data, []);
});

test("seed 003's React component: ExperimentsList's calls, in order", async () => {
  const workspaceId = workspace('react');
  let experiments = [];
  const logged = [];

  // useEffect → fetchExperiments()
  let response = await getExperimentsByWorkspace(workspaceId);
  experiments = response.data;
  assert.deepEqual(response, { data: [], meta: { page: 1, limit: 10, total: 0, totalPages: 0 } });

  // handleCreateExperiment(), clicked twice: the second click's 409 is what it logs.
  const handleCreateExperiment = async () => {
    try {
      await createExperiment({
        name: 'New Experiment',
        workspaceId,
        description: 'Testing a new feature'
      });
      const refreshed = await getExperimentsByWorkspace(workspaceId);
      experiments = refreshed.data;
    } catch (error) {
      logged.push(error);
    }
  };
  await handleCreateExperiment();
  assert.deepEqual(logged, []);
  assert.deepEqual(
    experiments.map((e) => [e.name, e.description, e.status]),
    [['New Experiment', 'Testing a new feature', 'inactive']]
  );
  await handleCreateExperiment();
  assert.equal(logged.length, 1);
  assert.equal(logged[0].status, 409);
  assert.equal(logged[0].message, 'An experiment with this name already exists');
  assert.equal(experiments.length, 1);

  // The "Activate" button, shown for each inactive experiment → handleActivate(experiment.id)
  const shown = experiments.filter((experiment) => experiment.status === 'inactive');
  assert.equal(shown.length, 1);
  await activateExperiment(shown[0].id);
  response = await getExperimentsByWorkspace(workspaceId);
  experiments = response.data;
  assert.deepEqual(experiments.map((e) => [e.id, e.status]), [[shown[0].id, 'active']]);
  assert.equal(experiments.filter((e) => e.status === 'inactive').length, 0, 'no button left');
});

test('pages, status filters and sorting', async () => {
  const workspaceId = workspace('pages');
  const names = ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo'];
  const created = {};
  for (const name of names) created[name] = await createExperiment({ name, workspaceId });
  await activateExperiment(created.Bravo.id);
  await activateExperiment(created.Delta.id);
  await activateExperiment(created.Echo.id);
  await deactivateExperiment(created.Echo.id);

  const byName = (page) => page.data.map((e) => e.name);
  const sorted = { sortBy: 'name', sortOrder: 'asc', limit: 2 };
  const second = await getExperimentsByWorkspace(workspaceId, { ...sorted, page: 2 });
  assert.deepEqual(byName(second), ['Charlie', 'Delta']);
  assert.deepEqual(second.meta, { page: 2, limit: 2, total: 5, totalPages: 3 });
  const third = await getExperimentsByWorkspace(workspaceId, { ...sorted, page: 3 });
  assert.deepEqual(byName(third), ['Echo']);
  const beyond = await getExperimentsByWorkspace(workspaceId, { ...sorted, page: 4 });
  assert.deepEqual(beyond, { data: [], meta: { page: 4, limit: 2, total: 5, totalPages: 3 } });
  const reversed = [...names].reverse();
  const descending = { sortBy: 'name', sortOrder: 'desc' };
  assert.deepEqual(byName(await getExperimentsByWorkspace(workspaceId, descending)), reversed);
  // Default: createdAt, newest first.
  assert.deepEqual(byName(await getExperimentsByWorkspace(workspaceId)), reversed);

  const active = await getActiveExperiments(workspaceId);
  assert.deepEqual(byName(active).sort(), ['Bravo', 'Delta']);
  assert.ok(active.data.every((e) => e.status === 'active'));
  assert.equal(active.meta.total, 2);
  const inactive = await getExperimentsByWorkspace(workspaceId, { status: 'inactive' });
  assert.deepEqual(byName(inactive).sort(), ['Alpha', 'Charlie', 'Echo']);
  const first = await getActiveExperiments(workspaceId, { ...sorted, limit: 1 });
  assert.deepEqual(first.data.map((e) => e.id), [created.Bravo.id]);
  assert.deepEqual(first.meta, { page: 1, limit: 1, total: 2, totalPages: 2 });
});

test('query parameters are URL-encoded', async () => {
  const workspaceId = workspace('encoding');
  const done = await createExperiment({ name: 'Done & dusted?', workspaceId });
  await activateExperiment(done.id);
  await completeExperiment(done.id);
  // Unencoded, the server would read workspaceId=<workspaceId> and status=completed.
  const sneaky = await getExperimentsByWorkspace(`${workspaceId}&status=completed`);
  assert.deepEqual(sneaky.data, [], 'a workspace id with & must not become two parameters');
  const listed = await getExperimentsByWorkspace(workspaceId, { status: 'completed' });
  assert.deepEqual(listed.data.map((e) => e.name), ['Done & dusted?']);
  assert.equal(listed.data[0].metrics, null, 'completing without metrics sends none');
});

test("seed 003's error responses, thrown as ExperimentsApiError", async () => {
  const workspaceId = workspace('errors');
  const notFound = 'Experiment not found';
  const error = await rejects(() => activateExperiment('experiment_id'), 404, notFound);
  assert.equal(error.code, 'experiment_not_found');
  await rejects(() => deactivateExperiment('2147483000'), 404, notFound);
  await rejects(() => completeExperiment('no-such-experiment', { views: 1 }), 404, notFound);

  const invalid = 'Invalid status. Must be one of: active, inactive, completed';
  await rejects(() => getExperimentsByWorkspace(workspaceId, { status: 'paused' }), 400, invalid);
  const running = { name: 'Bad', workspaceId, status: 'running' };
  await rejects(() => createExperiment(running), 400, invalid);
  await rejects(() => getExperimentsByWorkspace(''), 400, 'workspaceId is required');
  await rejects(() => createExperiment({ name: 'No workspace' }), 400, 'workspaceId is required');

  const body = { name: 'Checkout Flow', workspaceId };
  const first = await createExperiment(body);
  const duplicate = await rejects(
    () => createExperiment(body),
    409,
    'An experiment with this name already exists'
  );
  assert.equal(duplicate.code, 'duplicate_experiment');
  // The same name in another workspace is no duplicate.
  const elsewhere = await createExperiment({ ...body, workspaceId: workspace('errors-other') });
  assert.notEqual(elsewhere.id, first.id);
  const page = await getExperimentsByWorkspace(workspaceId);
  assert.deepEqual(page.data.map((e) => e.id), [first.id], 'nothing else was created');
});

const needsToken = { skip: !ADMIN_TOKEN && 'set SPLITLAB_TEST_ADMIN_TOKEN' };

test('a bearer token set with configure() is sent', needsToken, async () => {
  const workspaceId = workspace('token');
  const previous = configure({ token: 'not-a-real-token' });
  try {
    // Anonymous requests are accepted, so a 401 proves the header went out.
    const refused = await rejects(() => getExperimentsByWorkspace(workspaceId), 401);
    assert.equal(refused.code, 'unauthenticated');
    configure({ token: ADMIN_TOKEN });
    const created = await createExperiment({ name: 'With a token', workspaceId });
    assert.equal((await activateExperiment(created.id)).status, 'active');
    assert.deepEqual((await getActiveExperiments(workspaceId)).data.map((e) => e.id), [created.id]);
  } finally {
    configure(previous);
  }
  // Back to no token: anonymous again.
  assert.equal((await getExperimentsByWorkspace(workspaceId)).meta.total, 1);
});

test('requests as sent: methods, bodies, base URL and headers (recorded fetch)', async () => {
  const sent = [];
  const recorder = async (url, init) => {
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    sent.push({ url, method: init.method, headers: init.headers, body });
    return new Response(JSON.stringify({ ok: true }), { status: 200 });
  };
  const previous = configure({ baseUrl: 'https://ab.example.com/', fetch: recorder });
  try {
    const options = { page: 2, limit: 5, status: 'active', sortBy: 'name', sortOrder: 'asc' };
    await getExperimentsByWorkspace('w 1/ü&x', options);
    await getActiveExperiments('w');
    await createExperiment({ name: 'N', workspaceId: 'w' });
    await activateExperiment('7');
    await deactivateExperiment('7');
    await completeExperiment('7', { views: 3 });
    await completeExperiment('7');
  } finally {
    configure(previous);
  }
  const base = 'https://ab.example.com/api/experiments';
  assert.deepEqual(sent.map(({ method, url, body }) => [method, url, body]), [
    [
      'GET',
      `${base}?workspaceId=w+1%2F%C3%BC%26x&status=active&page=2&limit=5&sortBy=name&sortOrder=asc`,
      undefined
    ],
    ['GET', `${base}?workspaceId=w&status=active`, undefined],
    ['POST', base, { name: 'N', workspaceId: 'w' }],
    ['PATCH', base, { id: '7', status: 'active' }],
    ['PATCH', base, { id: '7', status: 'inactive' }],
    ['PATCH', base, { id: '7', status: 'completed', metrics: { views: 3 } }],
    ['PATCH', base, { id: '7', status: 'completed' }]
  ]);
  assert.ok(sent.every((r) => !('Authorization' in r.headers)), 'no token: no Authorization');
  assert.equal(sent[2].headers['Content-Type'], 'application/json');
  assert.throws(() => configure({ baseURL: 'x' }), TypeError);
});

test('failures without a JSON error body still throw ExperimentsApiError', async () => {
  const gateway = async () => new Response('<h1>Bad Gateway</h1>', { status: 502 });
  let previous = configure({ baseUrl: 'http://splitlab.test', fetch: gateway });
  try {
    await assert.rejects(getActiveExperiments('w'), (error) => {
      assert.ok(error instanceof ExperimentsApiError);
      assert.equal(error.status, 502);
      assert.equal(
        error.message,
        'HTTP 502 from GET http://splitlab.test/api/experiments?workspaceId=w&status=active'
      );
      assert.equal(error.body, '<h1>Bad Gateway</h1>');
      return true;
    });
  } finally {
    configure(previous);
  }
  previous = configure({ baseUrl: 'http://127.0.0.1:1' }); // nothing listens on port 1
  try {
    await assert.rejects(getActiveExperiments('w'), (error) => {
      assert.ok(error instanceof ExperimentsApiError);
      assert.equal(error.status, 0);
      assert.equal(error.code, 'network_error');
      assert.ok(error.cause instanceof Error);
      return true;
    });
  } finally {
    configure(previous);
  }
});
