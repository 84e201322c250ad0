// Replays the demo generator's events through the wallboard model (run by `cargo test`, see
// tests.rs): node replay_test.js <wallboard-model.js> <events.jsonl> <expected.json>.
// Each line of events.jsonl is {"now": browser ms, "envelope": Kazoo 4.x event}; the lines hold
// every demo account's events, the expectation is one account's. Exits non-zero on failure.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const [modelPath, eventsPath, expectedPath] = process.argv.slice(2);
require(path.resolve(modelPath));
const { Board } = globalThis.WallboardModel;
const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));

const lines = fs.readFileSync(eventsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const board = new Board(expected.account_id, lines[0].now);
let applied = 0;
let now = lines[0].now;
const statesSeen = new Set();
for (const line of lines) {
  now = line.now;
  if (board.apply(line.envelope, now)) applied++;
  board.prune(now);
  for (const call of board.calls.values()) {
    assert.ok(['ringing', 'answered', 'on-hold'].includes(call.state), call.state);
    statesSeen.add(call.state);
  }
}

assert.equal(applied, expected.events, 'only this account\'s events are applied');
const active = board.activeCalls();
assert.deepEqual(active.map((c) => c.id).sort(), Object.keys(expected.active).sort());
for (const call of active) assert.equal(call.state, expected.active[call.id], call.id);
assert.deepEqual([...statesSeen].sort(), ['answered', 'on-hold', 'ringing']);

const c = board.counters(now);
assert.equal(c.calls, expected.calls);
assert.equal(c.answered, expected.answered);
assert.equal(c.missed, expected.missed);
assert.ok(Math.abs(c.avgWaitMs - expected.avg_wait_ms) < 1, `wait ${c.avgWaitMs} vs ${expected.avg_wait_ms}`);
assert.ok(Math.abs(c.avgTalkMs - expected.avg_talk_ms) < 1, `talk ${c.avgTalkMs} vs ${expected.avg_talk_ms}`);
assert.ok(board.feed.every((e) => e.callId && e.label), 'every feed entry names its call and event');
console.log(`ok   replayed ${lines.length} demo events (${applied} for ${expected.account_id}): ` + JSON.stringify(c));
