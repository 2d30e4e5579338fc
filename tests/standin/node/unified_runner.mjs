// A runner of the MongoDB specifications' unified-format tests (a subset of the format: the entities,
// operations and matching rules the CRUD, transactions, sessions, retryable reads/writes, change
// stream and command monitoring tests use) against mongo-standin, with the Node.js driver.
//
// Usage: node unified_runner.mjs [--verbose] [FILE_FILTER]   (e.g. crud/ for one area)
// The spec JSON and the expectations (status.json: the tests listed as not supported, each with
// its reason) are in tools/mongo-standin/tests/spec/. Every other applicable test must pass; a
// test listed as not supported that now passes is reported too, so that the list stays true.
// Exits non-zero on any unexpected result. The binary comes from $MONGO_STANDIN.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { MongoClient, BSON, MongoServerError, MongoBulkWriteError } from 'mongodb';
import { StandIn } from './harness.mjs';

const { EJSON, Long, Int32, Double, Decimal128, ObjectId, Binary, Timestamp } = BSON;
const here = dirname(fileURLToPath(import.meta.url));
const SPEC_DIR = join(here, '..', '..', '..', 'tools', 'mongo-standin', 'tests', 'spec');
const SERVER_VERSION = [6, 0, 0];

class Skip extends Error {}
class Unsupported extends Error {}  // the runner lacks a feature the test needs

// ---- values ----

function isNumber(v) {
  return typeof v === 'number' || typeof v === 'bigint' || v instanceof Int32 ||
    v instanceof Double || v instanceof Long || v instanceof Decimal128;
}
function numberOf(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Long) return v.toNumber();
  if (v instanceof Decimal128) return Number(v.toString());
  return Number(v.valueOf());
}
function bsonType(v) {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Int32) return 'int';
  if (v instanceof Double) return 'double';
  if (v instanceof Long || typeof v === 'bigint') return 'long';
  if (v instanceof Decimal128) return 'decimal';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 2 ** 31 ? 'int' : 'double';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof Date) return 'date';
  if (v instanceof ObjectId) return 'objectId';
  if (v instanceof Binary) return 'binData';
  if (v instanceof Timestamp) return 'timestamp';
  if (Array.isArray(v)) return 'array';
  if (v._bsontype === 'BSONRegExp' || v instanceof RegExp) return 'regex';
  if (v._bsontype) return v._bsontype.toLowerCase();
  return 'object';
}
const isDoc = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !v._bsontype &&
  !(v instanceof Date) && !(v instanceof RegExp) && !(v instanceof Uint8Array);

// ---- matching (unified-test-format: Evaluating Matches) ----

function fail(path, msg) {
  throw new Error(`mismatch at ${path || '<root>'}: ${msg}`);
}

function matches(expected, actual, ctx, path = '', root = true) {
  if (actual instanceof Map) actual = Object.fromEntries(actual);  // sort and index keys
  if (isDoc(expected)) {
    const keys = Object.keys(expected);
    if (keys.length === 1 && keys[0].startsWith('$$')) return special(keys[0], expected[keys[0]], actual, ctx, path, root);
    if (!isDoc(actual)) fail(path, `expected a document, got ${show(actual)}`);
    for (const k of keys) {
      const e = expected[k];
      if (isDoc(e) && Object.keys(e).length === 1) {
        const op = Object.keys(e)[0];
        if (op === '$$exists') {
          if ((k in actual && actual[k] !== undefined) !== e[op]) fail(`${path}.${k}`, `$$exists ${e[op]}`);
          continue;
        }
        if (op === '$$unsetOrMatches') {
          if (!(k in actual) || actual[k] === undefined) continue;
          matches(e[op], actual[k], ctx, `${path}.${k}`, false);
          continue;
        }
      }
      if (!(k in actual)) fail(`${path}.${k}`, 'missing');
      matches(e, actual[k], ctx, `${path}.${k}`, false);
    }
    if (!root) {
      for (const k of Object.keys(actual)) {
        if (!(k in expected) && actual[k] !== undefined) fail(`${path}.${k}`, 'unexpected field in a nested document');
      }
    }
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) fail(path, `expected an array, got ${show(actual)}`);
    if (expected.length !== actual.length) fail(path, `array length ${actual.length}, expected ${expected.length}`);
    // The documents of a root-level array (a find's result) are root-level documents too.
    expected.forEach((e, i) => matches(e, actual[i], ctx, `${path}.${i}`, root));
    return;
  }
  if (isNumber(expected)) {
    if (!isNumber(actual) || numberOf(expected) !== numberOf(actual)) fail(path, `${show(actual)} != ${show(expected)}`);
    return;
  }
  if (expected === null) {
    if (actual !== null && actual !== undefined) fail(path, `${show(actual)} != null`);
    return;
  }
  if (!isDeepStrictEqual(EJSON.serialize({ v: expected }), EJSON.serialize({ v: actual }))) {
    fail(path, `${show(actual)} != ${show(expected)}`);
  }
}

function special(op, arg, actual, ctx, path, root) {
  switch (op) {
    case '$$exists':
      if ((actual !== undefined) !== arg) fail(path, `$$exists ${arg}`);
      return;
    case '$$type': {
      const types = Array.isArray(arg) ? arg : [arg];
      const t = bsonType(actual);
      const ok = types.some((x) => x === t || (x === 'number' && isNumber(actual)) ||
        (x === 'long' && t === 'int') || (x === 'int' && t === 'long' && Math.abs(numberOf(actual)) < 2 ** 31));
      if (!ok) fail(path, `type ${t} not in ${types}`);
      return;
    }
    case '$$unsetOrMatches':
      if (actual === undefined) return;
      return matches(arg, actual, ctx, path, root);
    case '$$matchesEntity':
      return matches(ctx.entity(arg), actual, ctx, path, root);
    case '$$sessionLsid': {
      const s = ctx.entity(arg);
      return matches(s.id ?? s.serverSession?.id, actual, ctx, path, false);
    }
    case '$$lte':
      if (!isNumber(actual) || numberOf(actual) > numberOf(arg)) fail(path, `${show(actual)} > ${show(arg)}`);
      return;
    case '$$matchAsDocument': {
      if (typeof actual !== 'string') fail(path, 'expected a JSON string');
      return matches(arg, EJSON.parse(actual, { relaxed: false }), ctx, path, false);
    }
    case '$$matchAsRoot':
      return matches(arg, actual, ctx, path, true);
    default:
      throw new Unsupported(`matching operator ${op}`);
  }
}

function show(v) {
  try {
    return EJSON.stringify(v, { relaxed: true });
  } catch {
    return String(v);
  }
}

// ---- the test file ----

function versionAtLeast(v) {
  const p = String(v).split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const a = SERVER_VERSION[i], b = p[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}
function versionAtMost(v) {
  const p = String(v).split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const a = SERVER_VERSION[i], b = p[i] ?? 0;
    if (a !== b) return a < b;
  }
  return true;
}

// True when one of the requirement sets fits a one-member 6.0 replica set without auth.
function runnable(reqs) {
  if (!reqs) return true;
  return reqs.some((r) => {
    if (r.minServerVersion && !versionAtLeast(r.minServerVersion)) return false;
    if (r.maxServerVersion && !versionAtMost(r.maxServerVersion)) return false;
    if (r.topologies && !r.topologies.includes('replicaset')) return false;  // a replica-set primary
    if (r.serverless === 'require' || r.auth === true || r.csfle === true || r.loadBalanced) return false;
    if (r.serverParameters) return false;
    return true;
  });
}

const SENSITIVE = new Set(['authenticate', 'saslStart', 'saslContinue', 'getnonce', 'createUser',
  'updateUser', 'copydbgetnonce', 'copydbsaslstart', 'copydb', 'hello', 'ismaster', 'isMaster']);

class TestContext {
  constructor(standIn, file) {
    this.standIn = standIn;
    this.file = file;
    this.entities = new Map();
    this.events = new Map();  // client id -> [event]
    this.failPoints = [];
    this.clients = [];
  }

  entity(id) {
    if (!this.entities.has(id)) throw new Error(`no entity ${id}`);
    return this.entities.get(id);
  }

  async createEntities(list) {
    for (const spec of list) {
      const [kind, def] = Object.entries(spec)[0];
      if (kind === 'client') await this.createClient(def);
      else if (kind === 'database') {
        const client = this.entity(def.client);
        this.entities.set(def.id, client.db(def.databaseName, options(def.databaseOptions)));
      } else if (kind === 'collection') {
        const db = this.entity(def.database);
        this.entities.set(def.id, db.collection(def.collectionName, options(def.collectionOptions)));
      } else if (kind === 'session') {
        const client = this.entity(def.client);
        const opts = { ...(def.sessionOptions || {}) };
        if (opts.defaultTransactionOptions) opts.defaultTransactionOptions = options(opts.defaultTransactionOptions);
        this.entities.set(def.id, client.startSession(opts));
      } else {
        throw new Unsupported(`entity ${kind}`);
      }
    }
  }

  async createClient(def) {
    const uriOptions = { ...(def.uriOptions || {}) };
    for (const k of Object.keys(uriOptions)) {
      if (['appname', 'appName', 'heartbeatFrequencyMS', 'w', 'readConcernLevel', 'retryWrites', 'retryReads',
        'serverSelectionTimeoutMS', 'connectTimeoutMS', 'socketTimeoutMS', 'maxPoolSize', 'minPoolSize',
        'waitQueueTimeoutMS', 'readPreference', 'journal', 'wtimeoutMS'].indexOf(k) < 0)
        throw new Unsupported(`client uriOption ${k}`);
    }
    const opts = { serverSelectionTimeoutMS: 5000, monitorCommands: true, promoteValues: true };
    for (const [k, v] of Object.entries(uriOptions)) {
      if (k === 'w') opts.writeConcern = { ...(opts.writeConcern || {}), w: v };
      else if (k === 'journal') opts.writeConcern = { ...(opts.writeConcern || {}), journal: v };
      else if (k === 'wtimeoutMS') opts.writeConcern = { ...(opts.writeConcern || {}), wtimeoutMS: v };
      else if (k === 'readConcernLevel') opts.readConcern = { level: v };
      else if (k === 'appname') opts.appName = v;
      else opts[k] = v;
    }
    if (opts.heartbeatFrequencyMS && opts.heartbeatFrequencyMS < 500) opts.minHeartbeatFrequencyMS = opts.heartbeatFrequencyMS;
    const client = new MongoClient(this.standIn.uri(), opts);
    const observe = new Set(def.observeEvents || []);
    const ignore = new Set(def.ignoreCommandMonitoringEvents || []);
    const events = [];
    this.events.set(def.id, events);
    const record = (type) => (ev) => {
      if (!observe.has(type)) return;
      if (ev.commandName === 'configureFailPoint' || ignore.has(ev.commandName)) return;
      if (!def.observeSensitiveCommands && SENSITIVE.has(ev.commandName)) return;
      events.push({ type, ev });
    };
    client.on('commandStarted', record('commandStartedEvent'));
    client.on('commandSucceeded', record('commandSucceededEvent'));
    client.on('commandFailed', record('commandFailedEvent'));
    for (const t of observe) if (!t.startsWith('command')) throw new Unsupported(`observing ${t}`);
    if (def.storeEventsAsEntities) throw new Unsupported('storeEventsAsEntities');
    await client.connect();
    this.clients.push(client);
    this.entities.set(def.id, client);
  }

  async cleanup() {
    for (const s of this.entities.values()) {
      if (s && typeof s.endSession === 'function' && s.serverSession !== undefined) {
        await s.endSession().catch(() => {});
      }
    }
    const admin = this.standIn.internal.db('admin');
    for (const fp of this.failPoints) {
      await admin.command({ configureFailPoint: fp, mode: 'off' }).catch(() => {});
    }
    for (const c of this.clients) await c.close(true).catch(() => {});
    // No transaction of this test outlives it (its locks would conflict with the next test).
    await admin.command({ killAllSessions: [] }).catch(() => {});
  }
}

// Driver options from spec option documents (readConcern, writeConcern, readPreference...).
function options(o) {
  if (!o) return {};
  const out = { ...o };
  if (out.timeoutMS !== undefined) throw new Unsupported('timeoutMS (CSOT)');
  if (out.writeConcern) out.writeConcern = { ...out.writeConcern };
  if (out.readPreference) out.readPreference = out.readPreference.mode ? out.readPreference.mode : out.readPreference;
  return out;
}

// ---- operations ----

function args(op) {
  const a = { ...(op.arguments || {}) };
  for (const k of Object.keys(a)) if (a[k] === undefined) delete a[k];
  return a;
}

async function toArray(cursor) {
  return cursor.toArray();
}

function bulkResult(r) {
  return {
    deletedCount: r.deletedCount, insertedCount: r.insertedCount, insertedIds: r.insertedIds,
    matchedCount: r.matchedCount, modifiedCount: r.modifiedCount, upsertedCount: r.upsertedCount,
    upsertedIds: r.upsertedIds,
  };
}

function sessionOpt(ctx, a) {
  const o = { ...a };
  if (o.session) o.session = ctx.entity(o.session);
  if (typeof o.returnDocument === 'string') o.returnDocument = o.returnDocument.toLowerCase();
  return o;
}

function bulkRequests(requests) {
  return requests.map((r) => {
    const [name, a] = Object.entries(r)[0];
    return { [name]: { ...a } };
  });
}

async function runCollectionOp(ctx, coll, name, a) {
  const o = sessionOpt(ctx, a);
  switch (name) {
    case 'insertOne': { const { document, ...rest } = o; return coll.insertOne(document, rest); }
    case 'insertMany': { const { documents, ...rest } = o; return coll.insertMany(documents, rest); }
    case 'deleteOne': { const { filter, ...rest } = o; return coll.deleteOne(filter, rest); }
    case 'deleteMany': { const { filter, ...rest } = o; return coll.deleteMany(filter, rest); }
    case 'updateOne': { const { filter, update, ...rest } = o; return coll.updateOne(filter, update, rest); }
    case 'updateMany': { const { filter, update, ...rest } = o; return coll.updateMany(filter, update, rest); }
    case 'replaceOne': { const { filter, replacement, ...rest } = o; return coll.replaceOne(filter, replacement, rest); }
    case 'find': { const { filter, ...rest } = o; return toArray(coll.find(filter || {}, rest)); }
    case 'findOne': { const { filter, ...rest } = o; return coll.findOne(filter || {}, rest); }
    case 'createFindCursor': { const { filter, ...rest } = o; return coll.find(filter || {}, rest); }
    case 'aggregate': { const { pipeline, ...rest } = o; return toArray(coll.aggregate(pipeline, rest)); }
    case 'countDocuments': { const { filter, ...rest } = o; return coll.countDocuments(filter, rest); }
    case 'estimatedDocumentCount': return coll.estimatedDocumentCount(o);
    case 'count': { const { filter, ...rest } = o; return coll.count(filter || {}, rest); }  // deprecated, still in 6.20
    case 'distinct': { const { fieldName, filter, ...rest } = o; return coll.distinct(fieldName, filter || {}, rest); }
    case 'findOneAndDelete': { const { filter, ...rest } = o; return coll.findOneAndDelete(filter, rest); }
    case 'findOneAndUpdate': { const { filter, update, ...rest } = o; return coll.findOneAndUpdate(filter, update, rest); }
    case 'findOneAndReplace': { const { filter, replacement, ...rest } = o; return coll.findOneAndReplace(filter, replacement, rest); }
    case 'bulkWrite': {
      const { requests, ...rest } = o;
      return bulkResult(await coll.bulkWrite(bulkRequests(requests), rest));
    }
    case 'createIndex': {
      const { keys, ...rest } = o;
      return coll.createIndex(keys, rest);
    }
    case 'dropIndex': { const { name: n, ...rest } = o; return coll.dropIndex(n, rest); }
    case 'dropIndexes': return coll.dropIndexes(o);
    case 'listIndexes': return toArray(coll.listIndexes(o));
    case 'listIndexNames': return (await toArray(coll.listIndexes(o))).map((i) => i.name);
    case 'createChangeStream': { const { pipeline, ...rest } = o; return openStream(coll, pipeline, rest); }
    case 'rename': { const { to, ...rest } = o; return coll.rename(to, rest); }
    case 'drop': return coll.drop(o);
    default: throw new Unsupported(`collection operation ${name}`);
  }
}

async function openStream(target, pipeline, opts) {
  const stream = target.watch(pipeline || [], opts);
  // Runs the aggregate now (and only it), as the spec expects of creating a change stream.
  await stream.cursor.cursorInit();
  return { stream, buffered: [] };
}

async function runDatabaseOp(ctx, db, name, a) {
  const o = sessionOpt(ctx, a);
  switch (name) {
    case 'runCommand': {
      const { command, commandName, ...rest } = o;
      return db.command(command, rest);
    }
    case 'createCollection': { const { collection, ...rest } = o; await db.createCollection(collection, rest); return undefined; }
    case 'dropCollection': {
      // MongoDB 6.0 answers 26 for a collection that does not exist; the driver's own runner ignores it.
      const { collection, ...rest } = o;
      return db.dropCollection(collection, rest).catch((e) => {
        if (e.code !== 26) throw e;
        return false;
      });
    }
    case 'listCollections': { const { filter, ...rest } = o; return toArray(db.listCollections(filter || {}, rest)); }
    case 'listCollectionNames': { const { filter, ...rest } = o; return (await toArray(db.listCollections(filter || {}, { ...rest, nameOnly: true }))).map((c) => c.name); }
    case 'aggregate': { const { pipeline, ...rest } = o; return toArray(db.aggregate(pipeline, rest)); }
    case 'createChangeStream': { const { pipeline, ...rest } = o; return openStream(db, pipeline, rest); }
    case 'modifyCollection': { const { collection, ...rest } = o; return db.command({ collMod: collection, ...rest }); }
    default: throw new Unsupported(`database operation ${name}`);
  }
}

async function runClientOp(ctx, client, name, a) {
  const o = sessionOpt(ctx, a);
  switch (name) {
    case 'listDatabases': { const { filter, ...rest } = o; return (await client.db('admin').admin().listDatabases({ ...rest, filter })).databases; }
    case 'listDatabaseNames': return (await client.db('admin').admin().listDatabases({ ...o, nameOnly: true })).databases.map((d) => d.name);
    case 'createChangeStream': { const { pipeline, ...rest } = o; return openStream(client, pipeline, rest); }
    case 'close': await client.close(); return undefined;
    default: throw new Unsupported(`client operation ${name}`);
  }
}

async function runSessionOp(ctx, session, name, a) {
  switch (name) {
    case 'startTransaction': session.startTransaction(options(a)); return undefined;
    case 'commitTransaction': return session.commitTransaction();
    case 'abortTransaction': return session.abortTransaction();
    case 'endSession': return session.endSession();
    case 'withTransaction': {
      const { callback, ...rest } = a;
      return session.withTransaction(async () => {
        // An expected error is still thrown to withTransaction, as the drivers' own runners do.
        for (const op of callback) await runOperation(ctx, op, true);
      }, options(rest));
    }
    default: throw new Unsupported(`session operation ${name}`);
  }
}

async function runStreamOp(ctx, s, name) {
  switch (name) {
    case 'iterateUntilDocumentOrError': {
      for (;;) {
        const doc = await s.stream.tryNext();
        if (doc) return doc;
      }
    }
    case 'iterateOnce': return (await s.stream.tryNext()) ?? undefined;
    case 'close': return s.stream.close();
    default: throw new Unsupported(`change stream operation ${name}`);
  }
}

async function runCursorOp(ctx, cursor, name) {
  switch (name) {
    case 'iterateUntilDocumentOrError': {
      const doc = await cursor.next();
      if (doc === null) throw new Error('cursor exhausted');
      return doc;
    }
    case 'iterateOnce': return (await cursor.tryNext()) ?? undefined;
    case 'close': return cursor.close();
    default: throw new Unsupported(`cursor operation ${name}`);
  }
}

async function runTestRunnerOp(ctx, name, a) {
  switch (name) {
    case 'failPoint': {
      const client = ctx.entity(a.client);
      await client.db('admin').command(a.failPoint);
      ctx.failPoints.push(a.failPoint.configureFailPoint);
      return undefined;
    }
    case 'targetedFailPoint': throw new Unsupported('targetedFailPoint (mongos only)');
    case 'assertSessionTransactionState': {
      const s = ctx.entity(a.session);
      const state = s.transaction?.state ?? 'NO_TRANSACTION';
      const map = { none: 'NO_TRANSACTION', starting: 'STARTING_TRANSACTION', in_progress: 'TRANSACTION_IN_PROGRESS',
        committed: 'TRANSACTION_COMMITTED', aborted: 'TRANSACTION_ABORTED' };
      if (state !== map[a.state] && !(a.state === 'committed' && state === 'TRANSACTION_COMMITTED_EMPTY'))
        throw new Error(`session state ${state}, expected ${a.state}`);
      return undefined;
    }
    case 'assertSessionUnpinned': return undefined;
    case 'assertSessionPinned': throw new Unsupported('assertSessionPinned (mongos only)');
    case 'assertSessionDirty':
    case 'assertSessionNotDirty': {
      const dirty = !!ctx.entity(a.session).serverSession?.isDirty;
      if (dirty !== (name === 'assertSessionDirty')) throw new Error(`session dirty is ${dirty}`);
      return undefined;
    }
    case 'assertSameLsidOnLastTwoCommands':
    case 'assertDifferentLsidOnLastTwoCommands': {
      const evs = ctx.events.get(a.client).filter((e) => e.type === 'commandStartedEvent');
      const [x, y] = evs.slice(-2).map((e) => e.ev.command.lsid);
      const same = isDeepStrictEqual(EJSON.serialize(x), EJSON.serialize(y));
      if (same !== (name === 'assertSameLsidOnLastTwoCommands')) throw new Error(`lsids same: ${same}`);
      return undefined;
    }
    case 'assertCollectionExists':
    case 'assertCollectionNotExists': {
      const names = (await ctx.standIn.internal.db(a.databaseName).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
      if (names.includes(a.collectionName) !== (name === 'assertCollectionExists'))
        throw new Error(`collection ${a.collectionName} exists: ${names.includes(a.collectionName)}`);
      return undefined;
    }
    case 'assertIndexExists':
    case 'assertIndexNotExists': {
      const idx = await ctx.standIn.internal.db(a.databaseName).collection(a.collectionName).listIndexes().toArray().catch(() => []);
      const has = idx.some((i) => i.name === a.indexName);
      if (has !== (name === 'assertIndexExists')) throw new Error(`index ${a.indexName} exists: ${has}`);
      return undefined;
    }
    case 'createEntities': await ctx.createEntities(a.entities); return undefined;
    default: throw new Unsupported(`testRunner operation ${name}`);
  }
}

async function dispatch(ctx, op) {
  const a = args(op);
  if (op.object === 'testRunner') return runTestRunnerOp(ctx, op.name, a);
  const target = ctx.entity(op.object);
  if (target?.stream) return runStreamOp(ctx, target, op.name);
  if (target instanceof MongoClient) return runClientOp(ctx, target, op.name, a);
  if (target && typeof target.startTransaction === 'function') return runSessionOp(ctx, target, op.name, a);
  if (target && typeof target.insertOne === 'function') return runCollectionOp(ctx, target, op.name, a);
  if (target && typeof target.createCollection === 'function') return runDatabaseOp(ctx, target, op.name, a);
  if (target && typeof target.tryNext === 'function') return runCursorOp(ctx, target, op.name);
  throw new Unsupported(`operation ${op.name} on ${op.object}`);
}

function errorLabels(e) {
  return e.errorLabels ?? [...(e[Symbol.for('errorLabels')] ?? [])];
}

async function runOperation(ctx, op, rethrowExpected = false) {
  if (op.expectEvents) throw new Unsupported('expectEvents inside an operation');
  let result, error;
  try {
    result = await dispatch(ctx, op);
  } catch (e) {
    if (e instanceof Unsupported || e instanceof Skip) throw e;
    error = e;
  }
  if (op.expectError) {
    const x = op.expectError;
    if (!error) throw new Error(`${op.name}: expected an error, got ${show(result)}`);
    const serverError = error instanceof MongoServerError || error instanceof MongoBulkWriteError ||
      error.code !== undefined;
    if (x.isClientError === true && serverError) throw new Error(`${op.name}: expected a client error, got ${error.message}`);
    if (x.isClientError === false && !serverError) throw new Error(`${op.name}: expected a server error, got ${error.message}`);
    if (x.errorContains && !String(error.message).toLowerCase().includes(x.errorContains.toLowerCase()))
      throw new Error(`${op.name}: error "${error.message}" does not contain "${x.errorContains}"`);
    const code = error.code ?? error.writeConcernError?.code ?? error.errorResponse?.code;
    if (x.errorCode !== undefined && (code === undefined || numberOf(code) !== numberOf(x.errorCode))) throw new Error(`${op.name}: error code ${code}, expected ${x.errorCode}`);
    if (x.errorCodeName !== undefined && (error.codeName ?? error.errorResponse?.codeName) !== x.errorCodeName)
      throw new Error(`${op.name}: codeName ${error.codeName}, expected ${x.errorCodeName}`);
    const labels = errorLabels(error);
    for (const l of x.errorLabelsContain || []) if (!error.hasErrorLabel?.(l)) throw new Error(`${op.name}: error lacks label ${l} (has ${labels})`);
    for (const l of x.errorLabelsOmit || []) if (error.hasErrorLabel?.(l)) throw new Error(`${op.name}: error has label ${l}`);
    if (x.expectResult) matches(x.expectResult, bulkResult(error.result ?? {}), ctx);
    if (x.errorResponse) matches(x.errorResponse, error.errorResponse ?? error, ctx);
    if (x.isTimeoutError) throw new Unsupported('isTimeoutError');
    if (rethrowExpected) throw error;
    return;
  }
  if (error) throw error;
  if (op.saveResultAsEntity) ctx.entities.set(op.saveResultAsEntity, result);
  if ('expectResult' in op) matches(op.expectResult, result, ctx, '', true);
}

function checkEvents(ctx, expected) {
  for (const block of expected) {
    if (block.eventType && block.eventType !== 'command') throw new Unsupported(`${block.eventType} events`);
    const actual = ctx.events.get(block.client) || [];
    const want = block.events;
    if (block.ignoreExtraEvents ? actual.length < want.length : actual.length !== want.length)
      throw new Error(`client ${block.client}: ${actual.length} events, expected ${want.length}: ` +
        actual.map((a) => `${a.type}:${a.ev.commandName}`).join(', '));
    want.forEach((w, i) => {
      const [type, spec] = Object.entries(w)[0];
      const { type: t, ev } = actual[i];
      if (t !== type) throw new Error(`event ${i}: ${t}(${ev.commandName}), expected ${type}(${spec.commandName})`);
      if (spec.commandName && ev.commandName !== spec.commandName)
        throw new Error(`event ${i}: command ${ev.commandName}, expected ${spec.commandName}`);
      if (spec.databaseName && ev.databaseName !== spec.databaseName)
        throw new Error(`event ${i}: database ${ev.databaseName}, expected ${spec.databaseName}`);
      if (spec.command) matches(spec.command, ev.command, ctx, `event ${i} command`);
      if (spec.reply) matches(spec.reply, ev.reply, ctx, `event ${i} reply`);
      if (spec.hasServiceId !== undefined || spec.hasServerConnectionId !== undefined) {
        // Load balancers only / connection ids: checked loosely.
      }
    });
  }
}

function normalize(v) {
  return EJSON.parse(EJSON.stringify(v, { relaxed: true }), { relaxed: true });
}
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !(v instanceof Date) && !v._bsontype) {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}

async function prepareData(standIn, data) {
  for (const c of data || []) {
    const db = standIn.internal.db(c.databaseName);
    await db.collection(c.collectionName).drop({ writeConcern: { w: 'majority' } }).catch(() => {});
    if (c.createOptions || !c.documents?.length) {
      await db.createCollection(c.collectionName, { ...(c.createOptions || {}), writeConcern: { w: 'majority' } });
    }
    if (c.documents?.length) await db.collection(c.collectionName).insertMany(c.documents, { writeConcern: { w: 'majority' } });
  }
}

async function checkOutcome(standIn, outcome) {
  for (const c of outcome || []) {
    const docs = await standIn.internal.db(c.databaseName).collection(c.collectionName)
      .find({}, { sort: { _id: 1 }, readConcern: { level: 'local' } }).toArray();
    const got = sortKeys(normalize(docs));
    const want = sortKeys(normalize(c.documents));
    if (!isDeepStrictEqual(got, want))
      throw new Error(`outcome of ${c.collectionName}: ${show(docs)}, expected ${show(c.documents)}`);
  }
}

async function runTest(standIn, file, doc, test) {
  if (test.skipReason) throw new Skip(test.skipReason);
  if (!runnable(doc.runOnRequirements) || !runnable(test.runOnRequirements)) throw new Skip('requirements');
  await prepareData(standIn, doc.initialData);
  const ctx = new TestContext(standIn, file);
  try {
    await ctx.createEntities(doc.createEntities || []);
    for (const op of test.operations) await runOperation(ctx, op);
    if (test.expectEvents) checkEvents(ctx, test.expectEvents);
  } finally {
    await ctx.cleanup();
  }
  await checkOutcome(standIn, test.outcome);
}

// ---- main ----

function specFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...specFiles(p));
    else if (name.endsWith('.json') && name !== 'status.json') out.push(p);
  }
  return out;
}

async function main() {
  const argv = process.argv.slice(2);
  const verbose = argv.includes('--verbose');
  const filter = argv.find((a) => !a.startsWith('--'));
  const status = JSON.parse(readFileSync(join(SPEC_DIR, 'status.json'), 'utf8'));
  const notSupported = new Map();
  for (const [reason, names] of Object.entries(status.notSupported)) for (const n of names) notSupported.set(n, reason);
  const standIn = await new StandIn(['--enable-test-commands']).start();
  standIn.internal = new MongoClient(standIn.uri(), { serverSelectionTimeoutMS: 5000 });
  await standIn.internal.connect();
  const counts = { passed: 0, failed: 0, skipped: 0, notSupported: 0, nowPassing: 0 };
  const failures = [];
  const seen = new Set();
  try {
    for (const path of specFiles(SPEC_DIR)) {
      const rel = relative(SPEC_DIR, path);
      if (filter && !rel.includes(filter)) continue;
      // Relaxed: numbers as JS numbers, as the driver's own API takes them.
      const doc = EJSON.parse(readFileSync(path, 'utf8'), { relaxed: true });
      for (const test of doc.tests) {
        const id = `${rel}: ${test.description}`;
        seen.add(id);
        const reason = notSupported.get(id) ?? notSupported.get(`${rel}: *`);
        let outcome, message = '';
        const started = Date.now();
        try {
          let timer;
          const limit = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('no result within 15 s')), 15000);
          });
          await Promise.race([runTest(standIn, rel, doc, test), limit]).finally(() => clearTimeout(timer));
          outcome = 'pass';
        } catch (e) {
          if (e instanceof Skip) outcome = 'skip';
          else {
            outcome = 'fail';
            message = `${e instanceof Unsupported ? 'runner: ' : ''}${e.message}`;
          }
        }
        if (verbose && Date.now() - started > 1000) console.log(`slow (${Date.now() - started} ms): ${id}`);
        if (outcome === 'skip') counts.skipped++;
        else if (reason) {
          if (outcome === 'pass') {
            counts.nowPassing++;
            failures.push(`NOW PASSES (remove from status.json): ${id}`);
          } else {
            counts.notSupported++;
            if (verbose) console.log(`not supported: ${id} (${reason}): ${message}`);
          }
        } else if (outcome === 'pass') {
          counts.passed++;
          if (verbose) console.log(`pass: ${id}`);
        } else {
          counts.failed++;
          failures.push(`FAIL ${id}: ${message}`);
        }
      }
    }
  } finally {
    await standIn.internal.close(true).catch(() => {});
    await standIn.stop().catch(() => {});
  }
  for (const [id] of notSupported) {
    const inScope = !filter || id.slice(0, id.indexOf(': ')).includes(filter);
    if (!id.endsWith(': *') && !seen.has(id) && inScope) failures.push(`UNKNOWN (listed in status.json, no such test): ${id}`);
  }
  for (const f of failures) console.log(f);
  console.log(`spec tests: ${counts.passed} pass, ${counts.notSupported} not supported (listed), ` +
    `${counts.skipped} not applicable to a 6.0 replica set, ${counts.failed} unexpected failures, ` +
    `${counts.nowPassing} listed but passing`);
  const failed = failures.length;
  console.log(`${counts.passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
