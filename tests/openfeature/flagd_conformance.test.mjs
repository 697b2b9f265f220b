// degrade's reading of flagd flag files against flagd's own evaluator,
// @openfeature/flagd-core (npm). Every file in flagd/ is evaluated by both
// for KEYS targeting keys ("user-0", ...):
//   - every flag degrade accepts for a switch must give the same value for
//     every key when it is static, and the same share of true within
//     TOLERANCE when it is a fractional split (the two bucket with
//     different hashes, so the keys in each bucket differ; the shares may
//     not);
//   - a flag degrade does not follow (refused-*.flagd.json) must reject the
//     whole file with an error naming the flag and what is accepted, and
//     leave every switch as it was.
// degrade's side is flagd_eval (a Runtime reading the file as its config
// file, DEGRADE_CONFIG_FORMAT=flagd).
//
//   FLAGD_EVAL=<builddir>/tests/flagd_eval node --test flagd_conformance.test.mjs
//
// meson registers this as the test `flagd_conformance` (suite openfeature).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlagdCore } from '@openfeature/flagd-core';

const FLAGD_EVAL = process.env.FLAGD_EVAL;
const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'flagd');
// The switches flagd_eval defines (each on by default).
const SWITCHES = ['ads', 'chat', 'recs', 'search'];
const KEYS = 20_000;
// Two independent samples of KEYS keys at p = 0.5: a standard deviation of
// the difference of about 0.005; 0.025 is five of them.
const TOLERANCE = 0.025;

function degrade(file) {
  assert.ok(FLAGD_EVAL, 'set FLAGD_EVAL to the tests/flagd_eval binary');
  return JSON.parse(execFileSync(FLAGD_EVAL, [file, String(KEYS), ...SWITCHES], { encoding: 'utf8' }));
}

// flagd's values for `flag` over the keys, as a string of 0 and 1; a flag
// flagd resolves to the code default (disabled, null defaultVariant) gives
// the switch's default, true.
function flagd(core, flag) {
  let out = '';
  for (let k = 0; k < KEYS; k++) {
    let value = true;
    try {
      value = core.resolveBooleanEvaluation(flag, true, { targetingKey: `user-${k}` }, console).value;
    } catch {
      value = true;
    }
    out += value ? '1' : '0';
  }
  return out;
}

const share = (bits) => [...bits].filter((b) => b === '1').length / bits.length;

const files = readdirSync(DIR).filter((f) => f.endsWith('.flagd.json')).sort();

test('the set has accepted and refused files', () => {
  assert.ok(files.some((f) => !f.startsWith('refused-')));
  assert.ok(files.filter((f) => f.startsWith('refused-')).length >= 4);
});

for (const file of files) {
  const full = path.join(DIR, file);
  const text = readFileSync(full, 'utf8');
  const doc = JSON.parse(text);
  if (file.startsWith('refused-')) {
    test(`${file}: refused whole, naming the flag`, () => {
      const core = new FlagdCore();
      core.setConfigurations(text);  // flagd itself takes it
      const ours = degrade(full);
      assert.equal(ours.errors.length, 1, JSON.stringify(ours.errors));
      const flags = Object.keys(doc.flags);
      assert.ok(flags.some((f) => ours.errors[0].includes(`flags.${f}`)), ours.errors[0]);
      assert.match(ours.errors[0], /; accepted: /);
      for (const s of SWITCHES) {
        assert.equal(ours.switches[s].layer, 'default', `${s} changed: ${JSON.stringify(ours.switches[s])}`);
      }
    });
    continue;
  }
  test(`${file}: degrade and flagd-core agree on every switch`, () => {
    const core = new FlagdCore();
    core.setConfigurations(text);
    const ours = degrade(full);
    assert.deepEqual(ours.errors, []);
    for (const s of SWITCHES) {
      const theirs = flagd(core, s);
      const mine = ours.switches[s].values;
      const def = doc.flags[s];
      const fractional = def && def.state === 'ENABLED' && def.targeting && Object.keys(def.targeting).length > 0;
      if (fractional) {
        const diff = Math.abs(share(mine) - share(theirs));
        assert.ok(diff <= TOLERANCE,
          `${s}: degrade lets ${share(mine)} through, flagd ${share(theirs)} (tolerance ${TOLERANCE})`);
        assert.equal(ours.switches[s].layer, 'file');
      } else {
        assert.equal(mine, theirs, `${s}: the values differ for some key`);
      }
    }
  });
}
