// Regenerates vectors_non_ascii.json with the real GrowthBook JavaScript SDK (the reference).
//
// Run it from a scratch directory so that no node_modules ever lands in the repository:
//
//   mkdir -p /tmp/gbjs && cd /tmp/gbjs && npm init -y && npm install @growthbook/growthbook
//   NODE_PATH=/tmp/gbjs/node_modules node /work/main/tests/assignment/gen_vectors_non_ascii.js \
//     > /work/main/tests/assignment/vectors_non_ascii.json
//
// Every value comes from the SDK itself: util.hash / util.inNamespace (not exported by the package
// entry point, so loaded from its dist directory) and GrowthBook#run. A ten-line FNV-1a over
// charCodeAt with Math.imul cross-checks each hash, so a broken SDK install cannot pass silently.
"use strict";
const path = require("path");
const entry = require.resolve("@growthbook/growthbook");
const sdkDir = path.resolve(path.dirname(entry), "..", "..");
const sdkVersion = require(path.join(sdkDir, "package.json")).version;
const util = require(path.join(path.dirname(entry), "util.js"));
const { GrowthBook } = require("@growthbook/growthbook");

function fnvUnits(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
function independentHash(seed, value, version) {
  if (version === 2) return (fnvUnits(fnvUnits(seed + value) + "") % 10000) / 10000;
  return (fnvUnits(value + seed) % 1000) / 1000;
}

const ids = [
  "user-1", // ASCII control row
  "José", // Latin-1 letter, one UTF-16 unit (UTF-8 would be 2 bytes)
  "Zoë Ærøskøbing",
  "naïve-ßtraße",
  "e\u0301", // NFD: e + combining acute, not normalised
  "\u00e9", // NFC é
  "Ω≈ç√∫",
  "用户123", // CJK, BMP
  "ユーザー",
  "사용자-7",
  "€100", // U+20AC, 3 UTF-8 bytes, one unit
  "\u{1F600}", // emoji outside the BMP: surrogate pair D83D DE00
  "user-🚀-42",
  "👩‍💻", // ZWJ sequence: 2 astral chars + U+200D
  "𠜎𠜱𠝹", // CJK extension B, astral
  "🇫🇷", // regional indicators, astral
  "\uFFFF", // last BMP unit
  "\uE000", // private use: sorts after surrogates as units, before astral as code points
];
const seeds = ["my-experiment", "checkout-redesign", "ünïcode-seed"];

const hash = [];
for (const seed of seeds) {
  for (const id of ids) {
    for (const version of [1, 2]) {
      const value = util.hash(seed, id, version);
      if (value !== independentHash(seed, id, version)) throw new Error(`mismatch ${seed} ${id}`);
      hash.push([seed, id, version, value]);
    }
  }
}

const inNamespace = [];
for (const id of ids) {
  for (const ns of [["pricing", 0, 0.5], ["pricing", 0.5, 1], ["ボタン", 0.25, 0.75]]) {
    inNamespace.push([id, ns, util.inNamespace(id, ns)]);
  }
}

const experiments = [
  { key: "checkout-redesign", variations: [0, 1, 2], weights: [0.2, 0.3, 0.5], hashVersion: 2 },
  { key: "pricing-page", variations: [0, 1], coverage: 0.5, hashVersion: 2, seed: "custom-seed-ü" },
  { key: "legacy-v1", variations: [0, 1], weights: [0.5, 0.5], hashVersion: 1 },
  { key: "in-namespace", variations: [0, 1], hashVersion: 2, namespace: ["pricing", 0, 0.5] },
];
const run = [];
for (const experiment of experiments) {
  for (const id of ids) {
    const gb = new GrowthBook({ attributes: { id } });
    const r = gb.run({ ...experiment });
    const result = { variationId: r.variationId, inExperiment: r.inExperiment, hashUsed: r.hashUsed };
    if (r.bucket !== undefined) result.bucket = r.bucket;
    run.push([id, experiment, result]);
    gb.destroy();
  }
}

const out = {
  description:
    "Splitlab's own GrowthBook-compatible bucketing vectors for non-ASCII user ids and seeds.",
  rule:
    "FNV-1a 32 over the UTF-16 code units of the string (JS charCodeAt): BMP characters are one unit (their code point), characters above U+FFFF are their surrogate pair, no Unicode normalisation, never UTF-8 bytes.",
  produced_by: {
    sdk: `@growthbook/growthbook@${sdkVersion} (npm): util.hash, util.inNamespace, GrowthBook#run`,
    cross_check: "each hash also recomputed by an independent Math.imul/charCodeAt FNV-1a in the generator",
    node: process.version,
    generator: "tests/assignment/gen_vectors_non_ascii.js (see its header for the command)",
  },
  formats: {
    hash: "[seed, value, version, expected]",
    inNamespace: "[user id, [namespace, start, end], expected]",
    run: "[user id, experiment as passed to GrowthBook#run, {variationId, inExperiment, hashUsed, bucket?}]",
  },
  hash,
  inNamespace,
  run,
};
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
