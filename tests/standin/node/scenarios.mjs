// The 18 conformance scenarios of MONGO-STANDIN.md section 7, with the Node.js driver.
// Usage: node scenarios.mjs [scenario...]; prints "N passed, M failed".
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BSON, Binary, BSONRegExp, BSONSymbol, Code, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp,
} from 'mongodb';
import { StandIn, withStandIn, waitFor, expectCode } from './harness.mjs';

function commandRecorder(client) {
  const names = [];
  client.on('commandStarted', (e) => names.push(e.commandName));
  return names;
}

const scenarios = {
  async s01_handshake() {
    await withStandIn([], async (s) => {
      for (const direct of [false, true]) {
        const c = await s.client({}, direct);
        const hello = await c.db('admin').command({ hello: 1 });
        assert.equal(hello.isWritablePrimary, true);
        assert.equal(hello.ismaster, true);
        assert.equal(hello.setName, 'rs0');
        assert.deepEqual(hello.hosts, [`127.0.0.1:${s.port}`]);
        assert.equal(hello.maxWireVersion, 17);
        assert.equal(hello.logicalSessionTimeoutMinutes, 30);
        assert.ok(hello.electionId instanceof ObjectId);
        assert.equal(hello.topologyVersion, undefined);
        await c.db('test').collection('hs').insertOne({ direct });
        assert.equal(await c.db('test').collection('hs').countDocuments({ direct }), 1);
        const desc = c.topology.description;
        const servers = [...desc.servers.values()];
        assert.equal(servers.length, 1);
        assert.equal(servers[0].type, 'RSPrimary');
      }
    });
  },

  async s02_unacknowledged_write() {
    await withStandIn([], async (s) => {
      const c = await s.client({ maxPoolSize: 1 });
      const coll = c.db('test').collection('w0', { writeConcern: { w: 0 } });
      const r = await coll.insertOne({ _id: 1 });
      assert.equal(r.acknowledged, false);
      assert.equal((await c.db('admin').command({ ping: 1 })).ok, 1);
      await waitFor(async () => (await c.db('test').collection('w0').findOne({ _id: 1 })) !== null, { what: 'w:0 insert' });
      await coll.insertMany(Array.from({ length: 48 }, (_, i) => ({ _id: i + 2 })));
      assert.equal((await c.db('admin').command({ ping: 1 })).ok, 1);
      await waitFor(async () => (await c.db('test').collection('w0').countDocuments()) === 49, { what: 'w:0 batch' });
    });
  },

  async s03_bson_round_trip() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const doc = {
        _id: new ObjectId('000102030405060708090a0b'),
        dbl: new Double(1.5), negzero: new Double(-0), str: 'h\u00e9llo', doc: { b: 1, a: 2 }, arr: [1, 'x'],
        bin0: new Binary(Buffer.from('abc'), 0), bin3: new Binary(Buffer.alloc(16, 1), 3),
        bin4: new Binary(Buffer.alloc(16, 2), 4), bin5: new Binary(Buffer.alloc(16, 3), 5),
        bin80: new Binary(Buffer.from('user'), 0x80), oid: new ObjectId(), t: true, f: false,
        date: new Date(-1234567), null: null, re: new BSONRegExp('^a.c$', 'im'), code: new Code('function() {}'),
        sym: new BSONSymbol('symbol'), cws: new Code('x + 1', { x: 1 }), i32: new Int32(-2147483648),
        ts: new Timestamp({ t: 7, i: 1234 }), i64: Long.fromString('4611686018427387904'),
        dec: Decimal128.fromString('1.000'), min: new MinKey(), max: new MaxKey(),
      };
      const expected = BSON.serialize(doc);
      const coll = c.db('test').collection('types');
      await coll.insertOne(doc);
      const raw = await coll.findOne({}, { raw: true });
      assert.ok(Buffer.from(raw).equals(Buffer.from(expected)), 'document changed on the way back');
      const back = BSON.deserialize(raw, { promoteValues: false });
      assert.equal(Object.is(back.negzero.valueOf(), -0), true);
    });
  },

  async s04_duplicate_key_batches() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const db = c.db('test');
      let err = await expectCode(db.collection('o').insertMany([{ _id: 1 }, { _id: 1 }, { _id: 2 }]), 11000);
      assert.equal(err.insertedCount, 1);
      assert.equal(err.writeErrors[0].index, 1);
      assert.equal(err.writeErrors[0].code, 11000);
      assert.equal(err.writeErrors[0].errmsg, 'E11000 duplicate key error collection: test.o index: _id_ dup key: { _id: 1 }');
      err = await expectCode(db.collection('u').insertMany([{ _id: 1 }, { _id: 1 }, { _id: 2 }], { ordered: false }), 11000);
      assert.equal(err.insertedCount, 2);
      await expectCode(db.collection('u').insertOne({ _id: 1.5 - 0.5 }), 11000);
      await db.collection('ui').createIndex({ email: 1 }, { unique: true });
      await db.collection('ui').insertOne({ email: 'a' });
      await expectCode(db.collection('ui').insertOne({ email: 'a' }), 11000);
    });
  },

  async s05_updates() {
    const table = [
      [{ a: 1 }, { $set: { a: 2, 'b.c': 3 } }, { a: 2, b: { c: 3 } }],
      [{ a: 1, b: 2 }, { $unset: { b: '' } }, { a: 1 }],
      [{ n: 1 }, { $inc: { n: 2, m: 1 } }, { n: 3, m: 1 }],
      [{ n: 1 }, { $inc: { n: 0.5 } }, { n: 1.5 }],
      [{ n: 3 }, { $mul: { n: 2 } }, { n: 6 }],
      [{ n: 3 }, { $min: { n: 1 }, $max: { m: 5 } }, { n: 1, m: 5 }],
      [{ a: 1 }, { $rename: { a: 'z' } }, { z: 1 }],
      [{ arr: [1] }, { $push: { arr: 2 } }, { arr: [1, 2] }],
      [{ arr: [3, 1] }, { $push: { arr: { $each: [2, 5], $sort: 1, $slice: 3 } } }, { arr: [1, 2, 3] }],
      [{ arr: [1] }, { $addToSet: { arr: { $each: [1, 2] } } }, { arr: [1, 2] }],
      [{ arr: [1, 2, 3, 2] }, { $pull: { arr: 2 } }, { arr: [1, 3] }],
      [{ arr: [1, 2, 3] }, { $pullAll: { arr: [1, 3] } }, { arr: [2] }],
      [{ arr: [1, 2, 3] }, { $pop: { arr: -1 } }, { arr: [2, 3] }],
      [{ arr: [{ x: 1 }, { x: 2 }] }, { $set: { 'arr.$[].y': 0 } }, { arr: [{ x: 1, y: 0 }, { x: 2, y: 0 }] }],
    ];
    await withStandIn([], async (s) => {
      const c = await s.client();
      const coll = c.db('test').collection('upd');
      for (const [i, [before, update, after]] of table.entries()) {
        await coll.insertOne({ _id: i, ...before });
        await coll.updateOne({ _id: i }, update);
        assert.deepEqual(await coll.findOne({ _id: i }), { _id: i, ...after }, JSON.stringify(update));
      }
      const big = await c.db('test').collection('upd', { promoteLongs: false });
      await big.insertOne({ _id: 'big', n: 2147483647 });
      await big.updateOne({ _id: 'big' }, { $inc: { n: 1 } });
      const got = await big.findOne({ _id: 'big' }, { promoteLongs: false });
      assert.ok(got.n instanceof Long, 'int32 overflow becomes int64');
      const r = await coll.updateOne({ _id: 'u', kind: 'x' }, { $set: { a: 1 }, $setOnInsert: { created: true } }, { upsert: true });
      assert.equal(r.upsertedId, 'u');
      assert.deepEqual(await coll.findOne({ _id: 'u' }), { _id: 'u', kind: 'x', a: 1, created: true });
      for (const [update, code] of [[{ $set: { _id: 5 } }, 66], [{ $foo: { a: 1 } }, 9], [{ $set: { a: 1 }, $inc: { a: 1 } }, 40], [{ $inc: { kind: 1 } }, 14]]) {
        await expectCode(coll.updateOne({ _id: 'u' }, update), code);
      }
      const stream = coll.watch();
      await stream.tryNext();
      const noop = await coll.updateOne({ _id: 'u' }, { $set: { a: 1 } });
      assert.equal(noop.matchedCount, 1);
      assert.equal(noop.modifiedCount, 0);
      await coll.insertOne({ _id: 'marker' });
      const ev = await stream.next();
      assert.equal(ev.operationType, 'insert');
      assert.deepEqual(ev.documentKey, { _id: 'marker' });
      await stream.close();
    });
  },

  async s06_sort_and_cursors() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const db = c.db('test');
      const coll = db.collection('sort');
      const values = [new MinKey(), null, 1, 'str', { a: 1 }, new Binary(Buffer.from([1])), new ObjectId(), true, new Date(0),
        new Timestamp({ t: 5, i: 1 }), new MaxKey()];
      const shuffled = values.map((v, i) => ({ v, i })).reverse();
      for (const { v, i } of shuffled) await coll.insertOne({ _id: i, v });
      const order = (await coll.find().sort({ v: 1 }).toArray()).map((d) => d._id);
      assert.deepEqual(order, values.map((_, i) => i));
      await coll.drop();
      await coll.insertMany(Array.from({ length: 250 }, (_, i) => ({ _id: i })));
      const ids = (await coll.find({}, { batchSize: 7 }).sort({ _id: -1 }).toArray()).map((d) => d._id);
      assert.deepEqual(ids, Array.from({ length: 250 }, (_, i) => 249 - i));
      const r = await db.command({ find: 'sort', batchSize: 2 });
      const id = r.cursor.id;
      assert.notEqual(Number(id), 0);
      const k = await db.command({ killCursors: 'sort', cursors: [id] });
      assert.equal(k.cursorsKilled.length, 1);
      await expectCode(db.command({ getMore: id, collection: 'sort' }), 43);
    });
  },

  async s07_counts() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const coll = c.db('test').collection('cnt');
      assert.equal(await coll.estimatedDocumentCount(), 0);
      await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i, even: i % 2 === 0 })));
      assert.equal(await coll.countDocuments({}), 20);
      assert.equal(await coll.countDocuments({ even: true }), 10);
      assert.equal(await coll.countDocuments({}, { skip: 5 }), 15);
      assert.equal(await coll.countDocuments({}, { skip: 5, limit: 3 }), 3);
      assert.equal(await coll.countDocuments({ even: true }, { skip: 8, limit: 5 }), 2);
      assert.equal(await coll.estimatedDocumentCount(), 20);
    });
  },

  async s08_collection_stream_events() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const coll = c.db('test').collection('ev');
      const stream = coll.watch();
      await stream.tryNext();
      await coll.insertOne({ _id: 1, a: 1, arr: [1] });
      await coll.updateOne({ _id: 1 }, { $set: { a: 2, 'x.y': 1 }, $push: { arr: 2 } });
      await coll.replaceOne({ _id: 1 }, { b: 1 });
      await coll.deleteOne({ _id: 1 });
      const evs = [];
      for (let i = 0; i < 4; i++) evs.push(await stream.next());
      assert.deepEqual(evs.map((e) => e.operationType), ['insert', 'update', 'replace', 'delete']);
      for (const e of evs) {
        assert.deepEqual(e.ns, { db: 'test', coll: 'ev' });
        assert.deepEqual(e.documentKey, { _id: 1 });
        assert.ok(e.wallTime instanceof Date);
        assert.ok(e.clusterTime instanceof Timestamp);
      }
      assert.deepEqual(evs[0].fullDocument, { _id: 1, a: 1, arr: [1] });
      assert.deepEqual(evs[1].updateDescription.updatedFields, { a: 2, x: { y: 1 }, 'arr.1': 2 });
      assert.deepEqual(evs[1].updateDescription.removedFields, []);
      assert.deepEqual(evs[2].fullDocument, { _id: 1, b: 1 });
      await stream.close();
    });
  },

  async s09_pbrt_and_resume() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const coll = c.db('test').collection('pb');
      const stream = coll.watch([], { maxAwaitTimeMS: 50 });
      const tokens = [];
      let resumeAt;
      for (let round = 0; round < 3; round++) {
        assert.equal(await stream.tryNext(), null);
        tokens.push(stream.resumeToken._data);
        await coll.insertOne({ _id: round });
        const ev = await waitFor(() => stream.tryNext(), { what: 'event' });
        assert.deepEqual(ev.documentKey, { _id: round });
        tokens.push(stream.resumeToken._data);
        if (round === 1) resumeAt = stream.resumeToken;
      }
      assert.equal(await stream.tryNext(), null);
      tokens.push(stream.resumeToken._data);
      await stream.close();
      assert.deepEqual(tokens, [...tokens].sort());
      await coll.insertMany([{ _id: 10 }, { _id: 11 }]);
      const c2 = await s.client();
      const resumed = c2.db('test').collection('pb').watch([], { resumeAfter: resumeAt, maxAwaitTimeMS: 50 });
      const got = [];
      for (let i = 0; i < 3; i++) got.push((await resumed.next()).documentKey._id);
      assert.deepEqual(got, [2, 10, 11]);
      assert.equal(await resumed.tryNext(), null);
      await resumed.close();
    });
  },

  async s10_resume_after_errors() {
    await withStandIn(['--enable-test-commands'], async (s) => {
      for (const mode of ['code43', 'close']) {
        const c = await s.client({ monitorCommands: true });
        const names = commandRecorder(c);
        const coll = c.db('test').collection(`r${mode}`);
        const stream = coll.watch([], { maxAwaitTimeMS: 100 });
        await stream.tryNext();
        await coll.insertMany([0, 1, 2].map((i) => ({ _id: i })));
        const got = [];
        for (let i = 0; i < 3; i++) got.push((await stream.next()).documentKey._id);
        const data = { failCommands: ['getMore'], ...(mode === 'code43' ? { errorCode: 43 } : { closeConnection: true }) };
        await c.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data });
        await coll.insertMany([3, 4, 5].map((i) => ({ _id: i })));
        while (got.length < 6) got.push((await stream.next()).documentKey._id);
        assert.equal(await stream.tryNext(), null);
        assert.deepEqual(got, [0, 1, 2, 3, 4, 5], mode);
        assert.equal(names.filter((n) => n === 'aggregate').length, 2, `${mode}: ${names}`);
        await stream.close();
      }
    });
  },

  async s11_history_lost() {
    await withStandIn(['--oplog-size', '10'], async (s) => {
      const c = await s.client({ monitorCommands: true });
      const names = commandRecorder(c);
      const coll = c.db('test').collection('hl');
      const stream = coll.watch();
      await stream.tryNext();
      await coll.insertOne({ _id: 0 });
      const old = (await stream.next())._id;
      await stream.close();
      await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i + 1 })));
      const before = names.filter((n) => n === 'aggregate').length;
      const resumed = coll.watch([], { resumeAfter: old });
      const err = await expectCode(resumed.tryNext(), 286);
      assert.ok(err.hasErrorLabel('NonResumableChangeStreamError'));
      assert.match(err.message, /may no longer be in the oplog/);
      assert.equal(names.filter((n) => n === 'aggregate').length, before + 1);
      await resumed.close();
    });
  },

  async s12_pipeline_errors() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const db = c.db('test');
      const coll = db.collection('pe');
      const stream = coll.watch([{ $project: { _id: 0 } }], { maxAwaitTimeMS: 100 });
      await stream.tryNext();
      await coll.insertOne({ _id: 1 });
      await expectCode(stream.next(), 280);
      await stream.close();
      const bad = coll.watch([{ $foo: {} }]);
      await expectCode(bad.tryNext(), 40324);
      await bad.close();
      await expectCode(db.command({ aggregate: 'pe', pipeline: [{ $match: {} }, { $changeStream: {} }], cursor: {} }), 40602);
    });
  },

  async s13_drop_rename_invalidate() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const db = c.db('test');
      await db.collection('a').insertOne({ _id: 1 });
      const cs = db.collection('a').watch();
      const dbs = db.watch();
      await cs.tryNext();
      await dbs.tryNext();
      await db.collection('a').rename('b');
      const ev = await cs.next();
      assert.equal(ev.operationType, 'rename');
      assert.deepEqual(ev.to, { db: 'test', coll: 'b' });
      const inv = await cs.next();
      assert.equal(inv.operationType, 'invalidate');
      assert.equal((await dbs.next()).operationType, 'rename');
      await db.collection('b').drop();
      const dev = await dbs.next();
      assert.equal(dev.operationType, 'drop');
      await cs.close();
      await dbs.close();
      const again = db.collection('a').watch([], { resumeAfter: inv._id });
      await expectCode(again.tryNext(), 260);
      await again.close();
      const after = db.collection('a').watch([], { startAfter: inv._id, maxAwaitTimeMS: 100 });
      await after.tryNext();
      await db.collection('a').insertOne({ _id: 2 });
      const e2 = await after.next();
      assert.equal(e2.operationType, 'insert');
      assert.deepEqual(e2.documentKey, { _id: 2 });
      await after.close();
    });
  },

  async s14_update_lookup() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const coll = c.db('test').collection('ul');
      await coll.insertOne({ _id: 1, a: 1 });
      const stream = coll.watch([], { fullDocument: 'updateLookup' });
      await stream.tryNext();
      await coll.updateOne({ _id: 1 }, { $set: { a: 2 } });
      await coll.deleteOne({ _id: 1 });
      const ev = await stream.next();
      assert.equal(ev.operationType, 'update');
      assert.equal(ev.fullDocument, null);
      assert.equal((await stream.next()).operationType, 'delete');
      await stream.close();
    });
  },

  async s15_transactions() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const other = await s.client();
      const db = c.db('test');
      await db.collection('t1').insertOne({ _id: 0 });
      await db.collection('t2').insertOne({ _id: 0 });
      const stream = db.watch();
      await stream.tryNext();
      const session = c.startSession();
      session.startTransaction();
      await db.collection('t1').insertOne({ _id: 1 }, { session });
      await db.collection('t2').updateOne({ _id: 0 }, { $set: { x: 1 } }, { session });
      assert.equal(await other.db('test').collection('t1').findOne({ _id: 1 }), null);
      assert.deepEqual(await db.collection('t1').findOne({ _id: 1 }, { session }), { _id: 1 });
      await session.commitTransaction();
      assert.deepEqual(await other.db('test').collection('t1').findOne({ _id: 1 }), { _id: 1 });
      assert.deepEqual(await other.db('test').collection('t2').findOne({ _id: 0 }), { _id: 0, x: 1 });
      const evs = [await stream.next(), await stream.next()];
      assert.deepEqual(evs.map((e) => e.operationType), ['insert', 'update']);
      assert.ok(evs[0].clusterTime.equals(evs[1].clusterTime));
      assert.ok(evs[0].lsid && Buffer.from(evs[0].lsid.id.buffer).equals(Buffer.from(session.id.id.buffer)));
      assert.equal(String(evs[0].txnNumber), String(evs[1].txnNumber));
      session.startTransaction();
      await db.collection('t1').insertOne({ _id: 99 }, { session });
      await session.abortTransaction();
      await session.endSession();
      await db.collection('t1').insertOne({ _id: 'after' });
      const ev = await stream.next();
      assert.deepEqual(ev.documentKey, { _id: 'after' });
      assert.equal(ev.lsid, undefined);
      await stream.close();
    });
  },

  async s16_write_conflicts() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const db = c.db('test');
      await db.collection('wc').insertOne({ _id: 1, n: 0 });
      const a = c.startSession();
      const b = c.startSession();
      a.startTransaction();
      b.startTransaction();
      await db.collection('wc').updateOne({ _id: 1 }, { $inc: { n: 1 } }, { session: a });
      const err = await expectCode(db.collection('wc').updateOne({ _id: 1 }, { $inc: { n: 10 } }, { session: b }), 112);
      assert.ok(err.hasErrorLabel('TransientTransactionError'));
      await a.commitTransaction();
      const err2 = await expectCode(b.commitTransaction(), 251);
      assert.ok(err2.hasErrorLabel('TransientTransactionError'));
      a.startTransaction();
      await expectCode(db.command({ count: 'wc' }, { session: a }), 263);
      await a.abortTransaction().catch(() => {});
      // withTransaction retries a conflict until it succeeds.
      const holder = c.startSession();
      holder.startTransaction();
      await db.collection('wc').updateOne({ _id: 1 }, { $set: { held: true } }, { session: holder });
      let attempts = 0;
      const ses = c.startSession();
      await ses.withTransaction(async () => {
        attempts += 1;
        if (attempts === 2) await holder.abortTransaction();
        await db.collection('wc').updateOne({ _id: 1 }, { $inc: { n: 100 } }, { session: ses });
      });
      assert.ok(attempts >= 2);
      const doc = await db.collection('wc').findOne({ _id: 1 });
      assert.equal(doc.n, 101);
      assert.equal(doc.held, undefined);
      for (const x of [a, b, holder, ses]) await x.endSession();
    });
  },

  async s17_retryable_write_replay() {
    await withStandIn([], async (s) => {
      const c = await s.client();
      const db = c.db('test');
      const stream = db.collection('rw').watch([], { maxAwaitTimeMS: 100 });
      await stream.tryNext();
      const other = await s.client();
      const session = other.startSession();
      const cmd = { insert: 'rw', documents: [{ _id: 1 }], txnNumber: Long.fromNumber(7) };
      const r1 = await other.db('test').command(cmd, { session });
      const r2 = await other.db('test').command(cmd, { session });
      assert.equal(r1.n, 1);
      assert.equal(r2.n, 1);
      assert.equal(r2.writeErrors, undefined);
      await expectCode(other.db('test').command({ insert: 'rw', documents: [{ _id: 2 }], txnNumber: Long.fromNumber(3) }, { session }), 225);
      await other.close(true);
      assert.equal(await db.collection('rw').countDocuments(), 1);
      await db.collection('rw').insertOne({ _id: 'marker' });
      assert.deepEqual((await stream.next()).documentKey, { _id: 1 });
      assert.deepEqual((await stream.next()).documentKey, { _id: 'marker' });
      await stream.close();
    });
  },

  async s18_restart() {
    const dir = mkdtempSync(join(tmpdir(), 'standin-'));
    const s = await new StandIn([], { dbpath: dir }).start();
    try {
      const c = await s.client({ maxPoolSize: 4 });
      const coll = c.db('test').collection('rs');
      await coll.insertMany([0, 1, 2].map((i) => ({ _id: i })));
      const stream = coll.watch();
      await stream.tryNext();
      await coll.insertOne({ _id: 3 });
      const token = (await stream.next())._id;
      await stream.close();
      const e1 = (await c.db('admin').command({ hello: 1 })).electionId;
      await s.restart();
      await waitFor(async () => { await coll.insertOne({ _id: 4 }); return true; }, { timeoutMs: 30000, what: 'reconnect' });
      const e2 = (await c.db('admin').command({ hello: 1 })).electionId;
      assert.ok(e2.toHexString() > e1.toHexString(), `${e1} < ${e2}`);
      assert.equal(await coll.countDocuments(), 5);
      const resumed = coll.watch([], { resumeAfter: token });
      assert.deepEqual((await resumed.next()).documentKey, { _id: 4 });
      await resumed.close();
      await coll.insertOne({ _id: 5 });
      await s.kill();
      await s.start();
      await waitFor(async () => (await coll.findOne({ _id: 5 })) !== null, { timeoutMs: 30000, what: 'data after SIGKILL' });
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
    await withStandIn([], async (m) => {
      const c = await m.client();
      const coll = c.db('test').collection('m');
      const stream = coll.watch();
      await stream.tryNext();
      await coll.insertOne({ _id: 1 });
      const token = (await stream.next())._id;
      await stream.close();
      await m.restart();
      await waitFor(async () => (await c.db('admin').command({ ping: 1 })).ok === 1, { timeoutMs: 30000, what: 'reconnect' });
      const resumed = coll.watch([], { resumeAfter: token });
      const err = await expectCode(resumed.tryNext(), 280);
      assert.ok(err.hasErrorLabel('NonResumableChangeStreamError'));
      await resumed.close();
    });
  },
};

const selected = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(scenarios);
let passed = 0;
let failed = 0;
for (const name of selected) {
  try {
    if (!scenarios[name]) throw new Error(`no scenario ${name}`);
    await scenarios[name]();
    console.log(`PASS ${name}`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${e.stack || e}`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
