// The official GrowthBook JavaScript SDK against a real `splitlab serve`: fetch the payload from
// {apiHost}/api/features/{clientKey}, evaluate every user on every experiment feature, send what
// trackingCallback reports to /api/v1/exposures/batch and conversions to /api/v1/events/batch.
//
// Run by tests/e2e/test_sdk_loop.py, which starts the server, creates the experiments, writes the
// input file and checks the output file against the server's results:
//
//   SPLITLAB_URL=http://127.0.0.1:8000 SPLITLAB_CLIENT_KEY=slk_... \
//   SDK_LOOP_INPUT=in.json SDK_LOOP_OUTPUT=out.json node --test sdk-loop.test.js
//
// Input: {"experiments": [{"key"}], "users": [{"id", "attributes"}],
//         "fresh_users": [{"id", "attributes"}], "purchases": [{"user_id", "value", "early"}]}
// "users" are evaluated and reported; "fresh_users" are evaluated by an instance with no
// trackingCallback (nothing reported), so pytest can ask the server about them afterwards.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const { test } = require("node:test");
const { GrowthBook } = require("@growthbook/growthbook");

const SDK_VERSION = require("@growthbook/growthbook/package.json").version;
const BATCH = 250;

function env(name) {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (tests/e2e/test_sdk_loop.py sets it)`);
  return value;
}

const apiHost = env("SPLITLAB_URL");
const clientKey = env("SPLITLAB_CLIENT_KEY");
const input = JSON.parse(fs.readFileSync(env("SDK_LOOP_INPUT"), "utf8"));
const outputPath = env("SDK_LOOP_OUTPUT");

// As a browser on another origin would send it (Node's fetch sets no Origin by itself).
const ORIGIN = "https://shop.example";

async function post(path, body) {
  const response = await fetch(`${apiHost}${path}`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${clientKey}`,
      "Content-Type": "application/json",
      Origin: ORIGIN,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${path}: ${text}`);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  return JSON.parse(text);
}

async function postInBatches(path, field, items) {
  const totals = { received: 0, accepted: 0, duplicates: 0, rejected: [] };
  for (let start = 0; start < items.length; start += BATCH) {
    const answer = await post(path, { [field]: items.slice(start, start + BATCH) });
    totals.received += answer.received;
    totals.accepted += answer.accepted;
    totals.duplicates += answer.duplicates;
    totals.rejected.push(...answer.rejected.map((r) => ({ ...r, index: r.index + start })));
  }
  return totals;
}

// Evaluate `users` on every experiment's two features with one GrowthBook instance, as a page
// would: the variant key with evalFeature, the variant's config with getFeatureValue.
async function evaluate(gb, users) {
  const answers = {};
  for (const user of users) {
    await gb.setAttributes({ id: user.id, ...user.attributes });
    const mine = {};
    for (const experiment of input.experiments) {
      const result = gb.evalFeature(experiment.key);
      mine[experiment.key] = {
        value: result.value,
        config: gb.getFeatureValue(`${experiment.key}:config`, null),
        source: result.source,
        in_experiment: Boolean(result.experimentResult && result.experimentResult.inExperiment),
      };
    }
    answers[user.id] = mine;
  }
  return answers;
}

test("GrowthBook JS SDK closes the loop with Splitlab", async (t) => {
  const exposures = [];
  const gb = new GrowthBook({
    apiHost,
    clientKey,
    trackingCallback: (experiment, result, user) => {
      exposures.push({
        experiment_key: experiment.key,
        variant_key: result.key,
        variation_id: result.variationId,
        user_id: String(result.hashValue),
        attributes: user.attributes,
        timestamp: new Date().toISOString(),
        exposure_id: `js:${experiment.key}:${result.hashValue}`,
      });
    },
  });
  const init = await gb.init({ timeout: 5000, streaming: false });
  assert.equal(init.success, true, `init failed: ${JSON.stringify(init)}`);
  assert.equal(init.source, "network");

  const answers = await evaluate(gb, input.users);
  gb.destroy();

  // A second page with no trackingCallback: these users are evaluated but never reported.
  const quiet = new GrowthBook({ apiHost, clientKey });
  await quiet.init({ timeout: 5000, streaming: false });
  const fresh = await evaluate(quiet, input.fresh_users);
  quiet.destroy();

  // Purchases go to /api/v1/events/batch: those marked "early" before the exposures are sent
  // (a transport may deliver them first; they happened after the user saw the variant), the
  // rest after them.
  const event = (p) => ({
    user_id: p.user_id,
    event_type: "purchase",
    value: p.value,
    event_id: `js-purchase:${p.user_id}`,
  });
  const early = input.purchases.filter((p) => p.early).map(event);
  const late = input.purchases.filter((p) => !p.early).map(event);
  const earlyTotals = await postInBatches("/api/v1/events/batch", "events", early);
  const exposureTotals = await postInBatches("/api/v1/exposures/batch", "exposures", exposures);
  assert.deepEqual(exposureTotals.rejected, []);
  const lateTotals = await postInBatches("/api/v1/events/batch", "events", late);
  const eventTotals = {
    accepted: earlyTotals.accepted + lateTotals.accepted,
    rejected: [...earlyTotals.rejected, ...lateTotals.rejected],
  };
  assert.deepEqual(eventTotals.rejected, []);
  assert.equal(eventTotals.accepted, input.purchases.length);

  await t.test("the payload answers 304 to its ETag and carries CORS headers", async () => {
    const url = `${apiHost}/api/features/${clientKey}`;
    const origin = { Origin: ORIGIN };
    const first = await fetch(url, { headers: origin });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("access-control-allow-origin"), "*");
    const etag = first.headers.get("etag");
    assert.ok(etag, "the payload has an ETag");
    const again = await fetch(url, { headers: { ...origin, "If-None-Match": etag } });
    assert.equal(again.status, 304);
    const preflight = await fetch(`${apiHost}/api/v1/exposures/batch`, {
      method: "OPTIONS",
      headers: {
        ...origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
      },
    });
    assert.equal(preflight.status, 200);
    assert.ok(preflight.headers.get("access-control-allow-origin"));
  });

  fs.writeFileSync(
    outputPath,
    JSON.stringify({
      sdk: `@growthbook/growthbook ${SDK_VERSION}`,
      node: process.version,
      answers,
      fresh,
      exposures,
      exposure_totals: exposureTotals,
      event_totals: eventTotals,
    }),
  );
});
