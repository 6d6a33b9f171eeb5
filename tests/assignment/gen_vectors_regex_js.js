// Regenerates vectors_regex_js.json: how JavaScript itself (V8, through the real GrowthBook SDK
// where a condition is involved) compiles and runs `$regex` / `$regexi` patterns. The SDK compiles
// `$regex` as `new RegExp(p)` and `$regexi` as `new RegExp(p, "i")`: no `u` flag.
//
//   mkdir -p /tmp/gbjs && cd /tmp/gbjs && npm init -y && npm install @growthbook/growthbook
//   NODE_PATH=/tmp/gbjs/node_modules node /work/main/tests/assignment/gen_vectors_regex_js.js \
//     > /work/main/tests/assignment/vectors_regex_js.json
//
// Sections (code units are numbers, sets of them [lo, hi] ranges):
// - canonical_classes: every set of two or more BMP code units that /\uXXXX/i cannot tell apart,
//   found by running each of the 65536 one-unit patterns with the "gi" flags over a string of all
//   65536 units (about ten seconds), and cross-checked against ECMA-262's Canonicalize rule;
// - scans: [pattern, flags, ranges] - the indices at which `new RegExp(pattern, flags + "g")`
//   matches in that same string of all units;
// - validity: [pattern, null or V8's SyntaxError message];
// - matrix: for each pattern, for flags "" ($regex) and "i" ($regexi), one "0"/"1" per text:
//   evalCondition({x: text}, {x: {[op]: pattern}});
// - cases: [condition, attributes, expected] from evalCondition (nesting, coercion).
"use strict";
const path = require("path");
const { evalCondition } = require("@growthbook/growthbook");
const entry = require.resolve("@growthbook/growthbook");
const sdkVersion = require(path.resolve(path.dirname(entry), "..", "..", "package.json")).version;

let ALL = "";
for (let u = 0; u < 0x10000; u++) ALL += String.fromCharCode(u);

function toRanges(units) {
  const out = [];
  for (const u of units) {
    const last = out[out.length - 1];
    if (last && u === last[1] + 1) last[1] = u;
    else out.push([u, u]);
  }
  return out;
}

function scan(pattern, flags) {
  const re = new RegExp(pattern, flags + "g");
  const found = [];
  let m;
  while ((m = re.exec(ALL)) !== null) {
    found.push(m.index);
    if (m[0].length === 0) re.lastIndex++;
  }
  return toRanges(found);
}

// ECMA-262 Canonicalize(rer, ch) without the u flag.
function canonicalize(u) {
  const upper = String.fromCharCode(u).toUpperCase();
  if (upper.length !== 1) return u;
  const cu = upper.charCodeAt(0);
  return u >= 128 && cu < 128 ? u : cu;
}

const hex4 = (u) => "\\u" + u.toString(16).padStart(4, "0");
const classes = [];
const byRule = new Map();
for (let u = 0; u < 0x10000; u++) {
  const k = canonicalize(u);
  if (!byRule.has(k)) byRule.set(k, []);
  byRule.get(k).push(u);
}
for (let u = 0; u < 0x10000; u++) {
  const re = new RegExp(hex4(u), "gi");
  const found = [];
  let m;
  while ((m = re.exec(ALL)) !== null) found.push(m.index);
  const rule = byRule.get(canonicalize(u));
  if (found.join() !== rule.join()) throw new Error(`RegExp and Canonicalize disagree on ${hex4(u)}`);
  if (found.length > 1 && found[0] === u) classes.push(found);
}

const SCANS = [
  ["\\s", ""], ["\\S", ""], [".", ""], ["[\\s\\S]", ""], ["[^]", ""], ["[]", ""], ["\\d", ""],
  ["\\D", ""], ["\\w", ""], ["\\W", ""], ["[^a]", ""], ["\\b", ""], ["\\B", ""], ["[\\b]", ""],
  ["[\\ud800-\\udbff]", ""],
  ["a", "i"], ["k", "i"], ["s", "i"], ["i", "i"], ["\\u00df", "i"], ["\\u03c3", "i"], ["\\u01c5", "i"],
  ["[a-z]", "i"], ["[^a-z]", "i"], ["[A-Z]", "i"], ["\\w", "i"], ["\\W", "i"], ["[^\\W]", "i"],
  ["[\\W\\d]", "i"], ["[\\u017f]", "i"], ["[^\\u212a]", "i"], ["[\\x00-\\x7f]", "i"],
  ["[^\\x00-\\x7f]", "i"], ["[\\u0100-\\u024f]", "i"], ["[^\\u0100-\\u024f]", "i"],
  ["[\\u0400-\\u04ff]", "i"], ["[\\u1f80-\\u1fff]", "i"], ["[^\\u00df]", "i"],
  ["[\\u10a0-\\u10ff]", "i"], ["[\\uab70-\\uabbf]", "i"], ["[\\u2c00-\\u2c7f]", "i"],
  ["[\\ua640-\\ua7ff]", "i"], ["[\\uff21-\\uff3a]", "i"], ["[\\ud800-\\udfff]", "i"],
  [".", "i"], ["[^]", "i"], ["\\s", "i"], ["\\b", "i"], ["\\d", "i"], ["[\\d-z]", "i"],
];

const VALID = [
  "^abc$", "abc", "a.c", "^.$", "^..$", "[\\s\\S]", "^[\\s\\S]$", "[^]", "^[^]$", "^[^]*$", "[]",
  "[]a", "[^a]", "\\s", "^\\s+$", "^\\S$", "\\d", "^\\D$", "^\\w+$", "\\W", "\\bfoo\\b", "\\Bo",
  "foo$", "^$", "a$|^b", "[\\b]", "\\cJ", "\\c1", "[\\c1]", "[\\c_]", "[\\c*]", "\\c", "[\\c]",
  "\\0", "\\08", "\\1", "\\12", "\\47", "\\377", "\\400", "\\8", "\\9", "[\\1]", "[\\8]", "[\\47]",
  "\\x41", "\\x4", "\\xg1", "\\u0041", "\\u004", "\\u{41}", "\\u{2}", "\\p{L}", "\\P{L}", "\\k",
  "\\k<a>", "[\\k]", "(?<a>x)\\k<a>", "\\k<a>(?<a>x)", "(?<a>.)\\k<a>", "(a)?\\1b", "\\1(a)",
  "(a)\\1", "(a)|\\1b", "(a)\\10", "(a)\\2", "(?=a)*b", "(?=a)?b", "(?!a)+.", "(?=(a))*\\1b",
  "(?<=a)b", "(?<!a)b", "(?<=a+)b", "(?<=^|,)b", "(?<=\\d{2,})x", "(?<!^)b", "a{2}", "a{2,}",
  "a{,2}", "a{2,3}?", "a{0}", "a{1,1}", "x{", "{", "}", "]", "a{1", "a{a}", "[a-]", "[-a]",
  "[a\\-z]", "[\\d-z]", "[z-\\d]", "[\\w-]", "[--0]", "[]]", "[^]]", "[\\]]", "[\\^]", "[[]",
  "[a-z]", "[^a-z]", "[A-Z]", "[\\u017f]", "[\\u212a]", "[^\\u212a]", "[k]", "[^k]", "[s-t]",
  "[\\B]", "[\\-]", "ß", "ẞ", "SS", "σ", "Σ", "ς", "µ", "Μ", "ǅ", "ǆ", "İ", "i", "ı", "I", "K",
  "k", "\u212a", "ſ", "s", "é", "É", "ÿ", "Ÿ", "ﬀ", "ᾳ", "ᾼ", "ΐ", "Ω", "ω", "\u2126", "å", "Å",
  "\u212b", "\\u0130", "^ipek$", "^IPEK$", "^İpek$", "^stra[sß]e$", "[\\u0100-\\u017f]",
  "[\\u0000-\\u007f]", "[^\\x00-\\x7f]", "😀", "^😀$", "[😀]", "^[😀]$", "^[😀]{2}$", "😀+",
  "^😀+$", "^.$", "\\uD83D", "\\uDE00$", "^[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]$", "(?:)", "()",
  "(|a)", "a|", "|", "(a*)*b", "(a|ab)(c|bcd)(d*)", "^(?:a+)+$", "\\/", "/", "a/b", "\\\\/",
  "[/]", "\\t\\n", "\\v", "\\f", "\\-", "\\a", "\\e", "\\z", "\\Z", "\\A", "\\G", "$$", "^^a",
  "\\Q", "(?<$>a)\\k<$>", "(?<\\u0061b>x)\\k<ab>", "(?<\\u{61}>x)\\k<a>", "(?<π>x)\\k<π>",
  "(?<a>x)\\-", "^\\s*$", "^[^\\s]+$", "^\\W+$", "\\u2028", "[\\n]", "^\\x0B$", "a$", "^a",
  "^.*$", "^.+@.+\\..+$", "^user-\\d+$", "^(?:[a-z0-9_]+)@example\\.com$", "\\.(?:com|org)$",
  "(a|b)c\\1", "(?:(a)|b)\\1c", "^(?=.*\\d)(?=.*[a-z]).{4,}$", "a{2,99999999999}",
];

const INVALID = [
  "(", ")", "[", "[z-a]", "a**", "a++", "a?*", "*", "+a", "?", "{1}", "{1,}", "{1,2}", "a{1}{2}",
  "a{2,1}", "a{99999999999,2}", "(?<name", "(?<name>", "(?<1a>x)", "(?<a>x)(?<a>y)",
  "(?<a>x)|(?<a>y)", "(?i:a)", "(?i)a", "(?-i:a)", "(?P<a>x)", "(?P=a)", "(?#c)", "(?", "(?:",
  "(?=", "(?<=a)*", "(?<!a)+", "^*", "$+", "\\b*", "\\B{2}", "\\", "a\\", "[\\", "(?<a>x)\\k",
  "(?<a>x)\\k<b>", "(?<a>x)\\k<", "(?<a>x)[\\k]", "(?<a>x)\\k<a", "a|*", "(*)", "[b-a]",
  "[\\u0062-\\u0061]", "[a--c]", "(?<a-b>x)", "(?<>x)", "(?<a>x)(?<b>y)\\k<c>", "x{2}{3}",
  "x*{2}", "(?<=a){2}?", "a)", "((a)", "[a", "[^", "(?<a>(?<a>x))", "(?<\\u{110000}>x)",
  "(?<\\x61>x)", "(?<a b>x)", "(?<=",
];

const TEXTS = [
  "", "a", "A", "abc", "ABC", "a\nc", "abc\n", "\n", "\r", "\u2028", "\u2029", "\u0085", " ", "\t",
  "\u000b", "\u000c", "\u00a0", "\u1680", "\u180e", "\u2000", "\u200a", "\u200b", "\u202f", "\u205f",
  "\u3000", "\ufeff", "\u00ad", "0", "\u0663", "_", "é", "É", "foo", "a foo b", "foobar", "xfoo",
  "ß", "ẞ", "SS", "ss", "strasse", "straße", "σ", "Σ", "ς", "µ", "Μ", "μ", "ǅ", "Ǆ", "ǆ", "İ",
  "i", "I", "ı", "ipek", "IPEK", "İpek", "İPEK", "ıpek", "K", "k", "\u212a", "ſ", "s", "S", "ÿ",
  "Ÿ", "ﬀ", "FF", "ᾳ", "ᾼ", "ΐ", "Ω", "ω", "\u2126", "å", "Å", "\u212b", "😀", "😀😀", "a😀",
  "😀\ude00", "\ud83d", "\ude00", "b", "ab", "aab", "ba", "abcd", "aa", "xaa", "ac", "k<a>",
  "u{2}", "uu", "u", "p{L}", "P{L}", "{", "}", "]", "a{1", "x{", "a{,2}", "-", "\b", "\x00",
  "\x008", "\x01", "'", "\x047", "\xff", " 0", "8", "9", "\n", "\x0a", "\u0011", "\u001f", "\\",
  "\\c", "\\c1", "/", "a/b", "\\/", "x", "xx", "aaa", "abc d", "1,b", ",b", "12x", "1x", "acb",
  "aca", "abcbcd", "a1b2", "user-42", "user-", "jo@example.com", "Jo@Example.COM", "x.org",
  "abab", "aXc", "e\u0301", "\t\n",
];

function evalRegex(pattern, text, insensitive) {
  const op = insensitive ? "$regexi" : "$regex";
  return evalCondition({ x: text }, { x: { [op]: pattern } }, {});
}

const validity = [...VALID, ...INVALID].map((p) => {
  try {
    new RegExp(p);
    new RegExp(p, "i");
    return [p, null];
  } catch (e) {
    return [p, e.message];
  }
});
for (const [p, err] of validity) {
  if ((err === null) !== VALID.includes(p)) throw new Error(`expected ${p} to be ${VALID.includes(p) ? "valid" : "invalid"}: ${err}`);
}

const matrix = [...VALID, ...INVALID.slice(0, 12)].map((p) => [
  p,
  TEXTS.map((t) => (evalRegex(p, t, false) ? "1" : "0")).join(""),
  TEXTS.map((t) => (evalRegex(p, t, true) ? "1" : "0")).join(""),
]);

const CASES = [
  [{ name: { $regexi: "^ipek$" } }, { name: "İpek" }],
  [{ name: { $regexi: "^ipek$" } }, { name: "IPEK" }],
  [{ unit: { $regexi: "^k$" } }, { unit: "\u212a" }],
  [{ s: { $regexi: "s" } }, { s: "\u017f" }],
  [{ t: { $regex: "[\\s\\S]" } }, { t: "x" }],
  [{ t: { $regex: "^[^]+$" } }, { t: "a\nb" }],
  [{ n: { $regex: "^\\d+$" } }, { n: 123 }],
  [{ n: { $regex: "^1,2$" } }, { n: [1, 2] }],
  [{ n: { $regex: "^null$" } }, { n: null }],
  [{ n: { $regexi: "^TRUE$" } }, { n: true }],
  [{ $and: [{ a: { $regex: "^x" } }, { $or: [{ b: { $regexi: "^Y$" } }, { c: 1 }] }] }, { a: "xz", b: "y" }],
  [{ $not: { a: { $regex: "\\bfoo\\b" } } }, { a: "a foo" }],
  [{ tags: { $elemMatch: { $regexi: "^beta-\\w+$" } } }, { tags: ["alpha", "BETA-x1"] }],
  [{ tags: { $elemMatch: { k: { $regex: "^\\s$" } } } }, { tags: [{ k: "\ufeff" }] }],
  [{ tags: { $all: [{ $regex: "^a" }, { $regexi: "B$" }] } }, { tags: ["ax", "cb"] }],
  [{ a: { $not: { $regex: "." } } }, { a: "\u2028" }],
  [{ a: { $regex: "(" } }, { a: "(" }],
  [{ a: { $not: { $regex: "(" } } }, { a: "(" }],
  [{ a: { $regex: 5 } }, { a: "5" }],
  [{ a: { $regex: "a/b" } }, { a: "a/b" }],
];
const cases = CASES.map(([c, a]) => [c, a, evalCondition(a, c, {})]);

const out = {
  description:
    "JS RegExp semantics of $regex/$regexi (new RegExp(p) / new RegExp(p, 'i'), no u flag): " +
    "case-insensitive classes over all BMP code units, whole-BMP scans, syntax errors, a " +
    "pattern x text matrix and nested conditions, all from V8 and the GrowthBook SDK.",
  produced_by: {
    sdk: `@growthbook/growthbook@${sdkVersion} (npm): evalCondition(attributes, condition, {}); new RegExp`,
    node: process.version,
    unicode: process.versions.unicode,
    generator: "tests/assignment/gen_vectors_regex_js.js (see its header for the command)",
  },
  texts: TEXTS,
  canonical_classes: classes,
  scans: SCANS.map(([p, f]) => [p, f, scan(p, f)]),
  validity,
  matrix,
  cases,
};
// One array element per line, so that a regeneration diffs readably.
function dump(obj) {
  const keys = Object.keys(obj);
  const lines = ["{"];
  keys.forEach((k, i) => {
    const comma = i < keys.length - 1 ? "," : "";
    const v = obj[k];
    if (!Array.isArray(v)) {
      lines.push(` ${JSON.stringify(k)}: ${JSON.stringify(v)}${comma}`);
      return;
    }
    lines.push(` ${JSON.stringify(k)}: [`);
    v.forEach((item, j) => lines.push(`  ${JSON.stringify(item)}${j < v.length - 1 ? "," : ""}`));
    lines.push(` ]${comma}`);
  });
  lines.push("}");
  return lines.join("\n") + "\n";
}
process.stdout.write(dump(out));
