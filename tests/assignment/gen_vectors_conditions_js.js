// Regenerates vectors_conditions_js.json: evalCondition answers of the real GrowthBook JS SDK on
// JavaScript-coercion, regex, path and version edge cases the shared spec cases do not pin down.
//
//   mkdir -p /tmp/gbjs && cd /tmp/gbjs && npm init -y && npm install @growthbook/growthbook
//   NODE_PATH=/tmp/gbjs/node_modules node /work/main/tests/assignment/gen_vectors_conditions_js.js \
//     > /work/main/tests/assignment/vectors_conditions_js.json
"use strict";
const path = require("path");
const { evalCondition } = require("@growthbook/growthbook");
const entry = require.resolve("@growthbook/growthbook");
const sdkVersion = require(path.resolve(path.dirname(entry), "..", "..", "package.json")).version;
const cases = [
  [{"n": 5}, {"n": "5"}], [{"n": 5}, {"n": [5]}], [{"n": 5}, {"n": " 5\n"}], [{"n": 0}, {"n": null}], [{"n": 0}, {"n": ""}], [{"n": 26}, {"n": "0x1A"}],
  [{"s": "1"}, {"s": 1}], [{"s": "null"}, {"s": null}], [{"s": "1,2"}, {"s": [1, 2]}], [{"s": "true"}, {"s": true}], [{"s": "1e+21"}, {"s": 1e21}], [{"s": "[object Object]"}, {"s": {}}],
  [{"b": true}, {"b": "x"}], [{"b": false}, {"b": 0}], [{"b": false}, {"b": null}], [{"b": true}, {"b": []}],
  [{"x": {"$gt": 9}}, {"x": "10"}], [{"x": {"$gt": 1}}, {"x": "abc"}], [{"x": {"$lt": "b"}}, {"x": "a"}], [{"x": {"$lte": 0}}, {"x": null}], [{"x": {"$gte": 2}}, {"x": [2]}], [{"x": {"$lt": "10"}}, {"x": "9"}], [{"x": {"$gt": true}}, {"x": 2}],
  [{"x": {"$lt": "\uE000"}}, {"x": "\u{1F600}"}],
  [{"x": {"$eq": "1"}}, {"x": 1}], [{"x": {"$eq": [1]}}, {"x": [1]}], [{"x": {"$ne": 1}}, {"x": true}],
  [{"x": {"$in": [1, "a"]}}, {"x": ["b", 1]}], [{"x": {"$in": [1]}}, {"x": true}], [{"x": {"$in": "abc"}}, {"x": "a"}], [{"x": {"$nin": [1]}}, {"x": "1"}],
  [{"x": {"$regex": "^a.c$"}}, {"x": "a\nc"}], [{"x": {"$regex": "^abc$"}}, {"x": "abc\n"}], [{"x": {"$regex": "\\d"}}, {"x": "٣"}], [{"x": {"$regex": "1"}}, {"x": 10}], [{"x": {"$regex": "(?i)a"}}, {"x": "A"}], [{"x": {"$regex": "\\/p"}}, {"x": "/p"}], [{"x": {"$regexi": "é"}}, {"x": "É"}], [{"x": {"$regex": "^nu"}}, {}],
  [{"x": {"$type": "null"}}, {}], [{"x": {"$exists": false}}, {"x": null}], [{"x": {"$exists": 1}}, {"x": 0}],
  [{"a.1": 3}, {"a": [2, 3]}], [{"a.length": 2}, {"a": [2, 3]}], [{"a.01": 3}, {"a": [2, 3]}], [{"a.b": 1}, {"a": {"b": 1}}],
  [{"x": {"b": 1, "a": 2}}, {"x": {"a": 2, "b": 1}}], [{"x": {"a": 1}}, {"x": {"a": 1.0}}], [{"x": {}}, {"x": {}}],
  [{"v": {"$vgt": "1.2.3-rc.1"}}, {"v": "1.2.3"}], [{"v": {"$vlt": "1.10.0"}}, {"v": "v1.9.0+build"}], [{"v": {"$veq": 1}}, {"v": "1"}],
  [{"$or": []}, {}], [{"$and": []}, {}], [{"$nor": []}, {}],
  [{"t": {"$all": ["a", {"$regex": "^b"}]}}, {"t": ["a", "bc"]}], [{"t": {"$alli": ["A"]}}, {"t": ["a"]}], [{"t": {"$elemMatch": {"$gt": 1}}}, {"t": [0, 2]}], [{"t": {"$elemMatch": {"k": 1}}}, {"t": [{"k": 1}]}], [{"t": {"$size": {"$gt": 1}}}, {"t": [1, 2]}],
  [{"x": {"$notAnOp": 1}}, {"x": 1}], [{"x": {"$ini": ["ABC"]}}, {"x": "abc"}],
];
const out = {
  description: "evalCondition edge cases: JS type coercion, relational comparison, regex dialect, paths, versions.",
  produced_by: {
    sdk: `@growthbook/growthbook@${sdkVersion} (npm): evalCondition(attributes, condition, {})`,
    node: process.version,
    generator: "tests/assignment/gen_vectors_conditions_js.js (see its header for the command)",
  },
  format: "[condition, attributes, expected]",
  cases: cases.map(([condition, attributes]) => [condition, attributes, evalCondition(attributes, condition, {})]),
};
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
