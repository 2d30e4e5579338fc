// Starts a mongo-standin on a free port for a test and stops it afterwards (Node.js twin of
// ../py/standin_harness.py). The binary comes from $MONGO_STANDIN.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';

const BINARY = process.env.MONGO_STANDIN || 'mongo-standin';

export class StandIn {
  constructor(args = [], { dbpath } = {}) {
    this.args = args;
    this.dbpath = dbpath;
    this.port = 0;
    this.proc = null;
    this.clients = [];
  }

  async start() {
    const args = ['--port', String(this.port), '--log-level', 'quiet', ...this.args];
    if (this.dbpath) args.push('--dbpath', this.dbpath);
    this.proc = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => this.proc.once('exit', (code, sig) => resolve({ code, sig })));
    this.exited = exited;
    const rl = createInterface({ input: this.proc.stdout });
    const line = await new Promise((resolve, reject) => {
      rl.once('line', resolve);
      exited.then(() => reject(new Error('mongo-standin exited before listening')));
    });
    rl.close();
    if (!line.startsWith('listening on ')) throw new Error(`unexpected first line: ${line}`);
    this.port = Number(line.slice(line.lastIndexOf(':') + 1));
    return this;
  }

  async stop() {
    if (!this.proc) return;
    this.proc.kill('SIGTERM');
    const { code } = await this.exited;
    this.proc = null;
    if (code !== 0) throw new Error(`mongo-standin exited with ${code} on SIGTERM`);
  }

  async kill() {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    await this.exited;
    this.proc = null;
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  uri(direct = false) {
    return direct
      ? `mongodb://127.0.0.1:${this.port}/?directConnection=true`
      : `mongodb://127.0.0.1:${this.port}/?replicaSet=rs0`;
  }

  async client(options = {}, direct = false) {
    const c = new MongoClient(this.uri(direct), { serverSelectionTimeoutMS: 5000, ...options });
    await c.connect();
    this.clients.push(c);
    return c;
  }

  async close() {
    for (const c of this.clients) await c.close(true).catch(() => {});
    this.clients = [];
    await this.stop();
  }
}

// Runs fn(standIn) with a fresh stand-in, always stopping it.
export async function withStandIn(args, fn, opts = {}) {
  const s = await new StandIn(args, opts).start();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

// Polls predicate() (async allowed) until truthy or the deadline passes; errors count as "not yet".
export async function waitFor(predicate, { timeoutMs = 10000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Expects the promise to reject with a server error of this code; returns the error.
export async function expectCode(promise, code) {
  try {
    await promise;
  } catch (e) {
    if (e.code !== code) throw new Error(`expected code ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  throw new Error(`expected error code ${code}, but the operation succeeded`);
}
