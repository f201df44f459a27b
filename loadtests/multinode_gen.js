#!/usr/bin/env node
'use strict';
// Fan-out across nodes: subscribers split over several nodes, events published through one
// node's HTTP API, on the rate ladder of the shared benchmark's fanout scenario (or at fixed
// rates, `rates=`).
//
//   node loadtests/multinode_gen.js gen_dir=<shared bench>/gen ports=P1,P2 publish_port=P1 \
//        procs=node-a:PID,node-b:PID,redis:PID [subs=1000] [p99_limit_ms=100] [out=FILE]
//
// Channels: `channels=C` (default 1) named fanout-bench-0..C-1, events published to them in
// turn. `layout=spread` (default) deals subscriber i to node i % nodes and each node's
// subscribers in turn over the C channels, so every channel has subscribers on every node;
// `layout=local` keeps each channel on one node (channel c's subscribers all on node c % nodes:
// what interest routing serves best). `subs_per_port=n1,n2,..` overrides the even split (0: a
// node with no subscribers). A layout the counts cannot honour (spread: fewer than C
// subscribers on a node that has any) is refused; see multinode_placement.js.
// `redis_port=` samples that Redis' INFO (commandstats, bytes in/out) around every step.
// `bus_template=` (with redis_port): publish straight onto the bus instead of through a node's
// HTTP API, as another node would: one PUBLISH per event on `bus_channel`, the message being
// the template (a node's wire form, made by scale_costs.py) with @@EVENT@@ replaced by the
// event's JSON; the publishes of one tick go in one write. Measures the receiving side alone.
//
// Started by loadtests/two_nodes.py and loadtests/scale_costs.py, which prepare a copy of
// ../shared/bench and start the servers. The WebSocket client, histogram, /proc sampling and request signing are the shared
// generator's own modules (`gen_dir`), so a figure here means what a `compare.sh fanout`
// figure means: the highest step with p99 under the limit, nothing lost within the drain
// window, the full rate published, and no HTTP error; a failing step is re-run once, then
// two bisection steps. All traffic goes to 127.0.0.1; every loop is bounded in count and time.
const http = require('http');
const path = require('path');
const { performance } = require('perf_hooks');

const args = {};
for (const a of process.argv.slice(2)) {
  const m = /^(?:--)?([A-Za-z0-9_-]+)=(.*)$/.exec(a);
  if (!m) { console.error(`bad argument ${a} (want key=value)`); process.exit(2); }
  args[m[1].replace(/-/g, '_')] = m[2];
}
const num = (k, d) => (args[k] !== undefined ? Number(args[k]) : d);
const str = (k, d) => (args[k] !== undefined ? String(args[k]) : d);
if (!args.gen_dir || !args.ports) { console.error('gen_dir= and ports= are required'); process.exit(2); }

const APP = { id: str('app_id', 'app-id'), key: str('app_key', 'app-key'), secret: str('app_secret', 'app-secret') };
const PORTS = String(args.ports).split(',').map(Number);
const PUBLISH_PORT = num('publish_port', PORTS[0]);
const SUBS = num('subs', 1000);
const STEP_S = num('step_s', 3);
const START = num('start_rate', 5);
const FACTOR = num('factor', 1.5);
const MAX_S = num('max_s', 55);
const REFINE = num('refine', 2);
const RETRY = num('retry_fail', 1);
const P99_LIMIT = num('p99_limit_ms', 100);
const DRAIN_MS = num('drain_ms', 2000);
const WARM_S = num('warmup_s', 2);
const PAYLOAD = 'x'.repeat(num('pad', 80));
const CHANNELS = num('channels', 1);
const LAYOUT = str('layout', 'spread');
const REDIS_PORT = num('redis_port', 0);
const WS_PATH = `/app/${APP.key}?protocol=7&client=js&version=8.4.0&flash=false`;

// Where subscriber i connects and what it subscribes to (see the layouts above), worked out
// before anything else so a layout that cannot be honoured is refused at once.
let placement;
try {
  placement = require('./multinode_placement').placement({
    nodes: PORTS.length,
    subs: SUBS,
    perNode: args.subs_per_port ? String(args.subs_per_port).split(',').map(Number) : null,
    channels: CHANNELS,
    layout: LAYOUT,
  });
} catch (e) { console.error(`multinode_gen: ${e.message}`); process.exit(2); }
const subsOfChannel = new Array(CHANNELS).fill(0);
placement = placement.map(({ node, channel }) => {
  subsOfChannel[channel]++;
  return { port: PORTS[node], channel: `fanout-bench-${channel}` };
});
const SUB_TOTAL = placement.length;

const gen = path.resolve(args.gen_dir);
const { Hist } = require(path.join(gen, 'hist'));
const { ProcTree, SelfCpu, machine } = require(path.join(gen, 'proc'));
const { signedPost } = require(path.join(gen, 'pusher'));
const { transport } = require(path.join(gen, 'client'));

const connectWs = transport(str('client', 'raw'));
const hard = setTimeout(() => { console.error('multinode_gen: hard timeout, aborting'); process.exit(3); }, num('hard_timeout', 170) * 1000);
hard.unref();

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x, d = 1) => (x === null || x === undefined || !isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

// ---------------------------------------------------------------- the servers' processes
// procs=name:pid,...: each one's CPU is reported per step, so a step shows where the time went
// (the publishing node, a receiving node, Redis).
const procs = String(args.procs || '').split(',').filter(Boolean).map((p) => {
  const [name, pid] = p.split(':');
  return { name, tree: new ProcTree(Number(pid)) };
});
function cpuSnap() {
  const out = {};
  for (const p of procs) { p.tree.refresh(); out[p.name] = p.tree.cpuSeconds(); }
  return out;
}
function rssKb() {
  const out = {};
  for (const p of procs) out[p.name] = p.tree.rss().total_kb;
  return out;
}
class Phase {
  constructor() { this.c0 = cpuSnap(); this.t0 = now(); this.self = new SelfCpu(); }
  end() {
    const c1 = cpuSnap();
    const wall = (now() - this.t0) / 1000;
    const perProc = {};
    let total = 0;
    for (const name of Object.keys(c1)) {
      const used = c1[name] - this.c0[name];
      total += used;
      perProc[name] = round((100 * used) / wall);
    }
    return { wall_s: round(wall, 3), server_cpu_pct: round((100 * total) / wall), cpu_pct: perProc, gen_cpu_pct: this.self.read().pct_of_core };
  }
}

// ---------------------------------------------------------------- subscribers
const PAT_S = Buffer.from('s\\":'); // inside the JSON-encoded data string: \"s\":123
const PAT_T = Buffer.from('t\\":');
function readInt(buf, pos) {
  let v = 0;
  for (;;) {
    const c = buf[pos++];
    if (c < 48 || c > 57) return v;
    v = v * 10 + (c - 48);
  }
}

let step = -1;
const seqStep = []; // seq -> step index
const stepRecv = []; // step -> received count
const stepRecvByPort = []; // step -> {port: count}
const stepHist = []; // step -> Hist
const stepHttp = []; // step -> Hist of HTTP publish service times (socket assigned -> answer read)
let late = 0, bogus = 0, unexpectedCloses = 0;
const pusherErrors = {};

function subscriber(i) {
  // subscriber i joins its node and channel; resolves once subscribed, or null if it failed
  const { port, channel } = placement[i];
  return new Promise((resolve) => {
    let subscribed = false;
    const conn = { port, open: false, closing: false };
    const onEvent = (buf) => {
      const at = buf.indexOf(PAT_S);
      if (at >= 0 && subscribed) {
        const seq = readInt(buf, at + PAT_S.length);
        const t = readInt(buf, buf.indexOf(PAT_T, at) + PAT_T.length) / 1000;
        const st = seqStep[seq];
        if (st === undefined) { bogus++; return; }
        if (st !== step) late++;
        stepRecv[st]++;
        stepRecvByPort[st][port]++;
        stepHist[st].add(now() - t);
        return;
      }
      let msg;
      try { msg = JSON.parse(buf); } catch (e) { return; }
      if (msg.event === 'pusher:connection_established') {
        conn.t.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
      } else if (msg.event === 'pusher_internal:subscription_succeeded') {
        subscribed = true;
        resolve(conn);
      } else if (msg.event === 'pusher:ping') {
        conn.t.send('{"event":"pusher:pong","data":{}}');
      } else if (msg.event === 'pusher:error') {
        const code = (typeof msg.data === 'string' ? JSON.parse(msg.data) : msg.data || {}).code;
        pusherErrors[code] = (pusherErrors[code] || 0) + 1;
      }
    };
    conn.t = connectWs({
      port,
      path: WS_PATH,
      onOpen: () => { conn.open = true; },
      onMessage: onEvent,
      onClose: () => { conn.open = false; if (!conn.closing) unexpectedCloses++; resolve(null); },
      onError: () => resolve(null),
    });
  });
}

async function connectAll(n, window, timeoutMs) {
  const conns = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const c = await subscriber(next++);
      if (c) conns.push(c);
    }
  };
  const deadline = sleep(timeoutMs).then(() => 'timeout');
  const all = Promise.all(Array.from({ length: Math.min(window, n) }, worker)).then(() => 'done');
  const why = await Promise.race([all, deadline]);
  return { conns, why };
}

// ---------------------------------------------------------------- publisher
const agent = new http.Agent({ keepAlive: true, maxSockets: num('http_conns', 8) });
const evPath = `/apps/${APP.id}/events`;
let seq = 0, inflight = 0, httpErr = 0, httpOk = 0;
const httpStatus = {};
const BUS_TEMPLATE = args.bus_template ? String(args.bus_template) : null;
const BUS_CHANNEL = str('bus_channel', '');
let bus = null, busPending = [];
function busConnect() {
  return new Promise((resolve, reject) => {
    bus = require('net').connect({ host: '127.0.0.1', port: REDIS_PORT }, resolve);
    bus.setNoDelay(true);
    bus.on('data', (d) => { // integer replies (`:n` receivers) only: count them
      for (let i = 0; i < d.length; i++) if (d[i] === 58) { inflight--; httpOk++; }
    });
    bus.on('error', reject);
  });
}
const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
function busPublish(c, data) {
  const event = JSON.stringify({ event: 'bench', channel: `fanout-bench-${c}`, data });
  const message = BUS_TEMPLATE.replace('@@EVENT@@', () => JSON.stringify(event).slice(1, -1));
  busPending.push(`*3\r\n$7\r\nPUBLISH\r\n${bulk(BUS_CHANNEL)}${bulk(message)}`);
}
function busFlush() {
  if (busPending.length) { bus.write(busPending.join('')); busPending = []; }
}

function publishOne() {
  // one event to the next channel in turn; returns how many deliveries it should make
  const s = seq++;
  seqStep[s] = step;
  const t = Math.round(now() * 1000);
  const c = s % CHANNELS;
  const data = JSON.stringify({ s, t, p: PAYLOAD });
  inflight++;
  if (BUS_TEMPLATE !== null) { busPublish(c, data); return subsOfChannel[c]; }
  const body = JSON.stringify({ name: 'bench', channels: [`fanout-bench-${c}`], data });
  const hist = stepHttp[step];
  let onSocket = null;
  const req = http.request({ host: '127.0.0.1', port: PUBLISH_PORT, method: 'POST', path: signedPost(APP, evPath, body), agent,
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (resp) => {
    httpStatus[resp.statusCode] = (httpStatus[resp.statusCode] || 0) + 1;
    if (resp.statusCode === 200) httpOk++; else httpErr++;
    resp.resume();
    resp.on('end', () => { inflight--; if (onSocket !== null) hist.add(now() - onSocket); });
  });
  req.on('socket', () => { onSocket = now(); });
  req.on('error', (e) => { httpErr++; inflight--; httpStatus[e.code] = (httpStatus[e.code] || 0) + 1; });
  req.end(body);
  return subsOfChannel[c];
}

// ---------------------------------------------------------------- Redis' own figures
function redisInfo() {
  // INFO stats + commandstats over one short connection: bytes in/out, PUBLISH calls and usec
  if (!REDIS_PORT) return Promise.resolve(null);
  return new Promise((resolve) => {
    const sock = require('net').connect({ host: '127.0.0.1', port: REDIS_PORT });
    let text = '';
    const timer = setTimeout(() => { sock.destroy(); resolve(null); }, 2000);
    sock.on('connect', () => sock.write('INFO all\r\n'));
    sock.on('data', (d) => {
      text += d.toString('latin1');
      const head = /^\$(\d+)\r\n/.exec(text);
      if (head && text.length >= head[0].length + Number(head[1])) {
        clearTimeout(timer);
        sock.destroy();
        const field = (name) => { const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(text); return m ? Number(m[1]) : null; };
        const cmd = (name) => {
          const m = new RegExp(`^cmdstat_${name}:calls=(\\d+),usec=(\\d+)`, 'm').exec(text);
          return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 };
        };
        resolve({
          net_in: field('total_net_input_bytes'), net_out: field('total_net_output_bytes'),
          publish: cmd('publish'), spublish: cmd('spublish'), used_memory: field('used_memory'),
          commands: field('total_commands_processed'),
        });
      }
    });
    sock.on('error', () => { clearTimeout(timer); resolve(null); });
  });
}
function redisDelta(a, b, events) {
  if (!a || !b) return null;
  const per = (x) => (events > 0 ? round(x / events, 1) : null);
  const calls = b.publish.calls - a.publish.calls + b.spublish.calls - a.spublish.calls;
  const usec = b.publish.usec - a.publish.usec + b.spublish.usec - a.spublish.usec;
  return {
    net_in_bytes_per_event: per(b.net_in - a.net_in),
    net_out_bytes_per_event: per(b.net_out - a.net_out),
    publish_calls: calls,
    publish_usec_per_call: calls > 0 ? round(usec / calls, 2) : null,
    commands_per_event: per(b.commands - a.commands),
    used_memory: b.used_memory,
  };
}

async function runStep(rate, secs) {
  const info0 = await redisInfo();
  const r = await runStepLoad(rate, secs);
  r.redis = redisDelta(info0, await redisInfo(), r.published);
  r.rss_kb = rssKb();
  return r;
}

function runStepLoad(rate, secs) {
  return new Promise((resolve) => {
    step++;
    stepRecv[step] = 0;
    stepRecvByPort[step] = Object.fromEntries(PORTS.map((p) => [p, 0]));
    stepHist[step] = new Hist();
    stepHttp[step] = new Hist();
    const ph = new Phase();
    const t0 = now();
    let sent = 0, backlogged = false, maxInflight = 0, expected = 0;
    const total = Math.round(rate * secs);
    const tick = setInterval(() => {
      const el = (now() - t0) / 1000;
      const due = Math.min(Math.floor(rate * el), total) - sent;
      for (let k = 0; k < due; k++) {
        if (inflight >= 512) { backlogged = true; break; }
        expected += publishOne();
        sent++;
      }
      if (BUS_TEMPLATE !== null) busFlush();
      if (inflight > maxInflight) maxInflight = inflight;
      if (el < secs) return;
      clearInterval(tick);
      const pubWall = (now() - t0) / 1000;
      const load = ph.end();
      const td = now();
      const waitDrain = () => {
        if (stepRecv[step] < expected && now() - td <= DRAIN_MS) { setTimeout(waitDrain, 20); return; }
        const h = stepHist[step].summary();
        const r = {
          target_events_per_s: round(rate, 2),
          published: sent,
          published_per_s: round(sent / pubWall, 1),
          delivered: stepRecv[step],
          delivered_by_port: stepRecvByPort[step],
          expected,
          lost: expected - stepRecv[step],
          delivered_msgs_per_s: round(stepRecv[step] / pubWall, 0),
          latency: h,
          http_service: BUS_TEMPLATE === null ? stepHttp[step].summary() : null,
          drain_ms: round(now() - td, 0),
          max_http_inflight: maxInflight,
          publish_backlogged: backlogged,
          server_cpu_pct: load.server_cpu_pct,
          cpu_pct: load.cpu_pct,
          gen_cpu_pct: load.gen_cpu_pct,
        };
        r.gen_saturated = r.gen_cpu_pct !== null && r.gen_cpu_pct >= 90;
        r.pass = sent > 0 && r.lost === 0 && h.p99_ms !== null && h.p99_ms < P99_LIMIT && !backlogged && sent >= 0.95 * total;
        resolve(r);
      };
      waitDrain();
    }, 2);
  });
}

async function ladder() {
  const steps = [];
  const warmup = WARM_S > 0 ? await runStep(START, WARM_S) : null;
  if (warmup) await sleep(300);
  const t0 = now();
  const timeLeft = () => MAX_S - (now() - t0) / 1000;
  const fixed = args.rates ? String(args.rates).split(',').map(Number) : null;
  let good = null, bad = null;
  if (fixed) {
    for (const rate of fixed) { if (timeLeft() < STEP_S) break; steps.push(await runStep(rate, STEP_S)); }
    return { warmup, steps };
  }
  let rate = START, retried = 0;
  while (timeLeft() > STEP_S + 1) {
    const r = await runStep(rate, STEP_S);
    steps.push(r);
    if (r.pass) { good = r; rate *= FACTOR; retried = 0; await sleep(200); continue; }
    if (retried < RETRY) { r.retried = true; retried++; await sleep(1000); continue; }
    bad = r;
    break;
  }
  for (let k = 0; k < REFINE && good && bad && timeLeft() > STEP_S + 3; k++) {
    await sleep(1000); // let the servers recover from the failing step
    const r = await runStep((good.target_events_per_s + bad.target_events_per_s) / 2, STEP_S);
    steps.push(r);
    if (r.pass) good = r; else bad = r;
  }
  return { warmup, steps };
}

async function main() {
  const started = new Date().toISOString();
  await sleep(num('settle_ms', 1000));
  const setup = new Phase();
  const { conns, why } = await connectAll(SUB_TOTAL, num('window', 200), num('connect_timeout_s', 60) * 1000);
  const setupLoad = setup.end();
  let result;
  if (conns.length < SUB_TOTAL) {
    result = { error: `only ${conns.length}/${SUB_TOTAL} subscribers connected (${why})` };
  } else {
    await sleep(500);
    if (BUS_TEMPLATE !== null) await busConnect();
    const rssWithSubs = rssKb();
    const { warmup, steps } = await ladder();
    const best = steps.filter((s) => s.pass).reduce((a, b) => (!a || b.delivered_msgs_per_s > a.delivered_msgs_per_s ? b : a), null);
    const firstFail = steps.find((s) => !s.pass) || null;
    result = {
      rss_kb_with_subs: rssWithSubs,
      warmup,
      steps,
      max_sustainable: best && {
        events_per_s: best.published_per_s, delivered_msgs_per_s: best.delivered_msgs_per_s,
        p50_ms: best.latency.p50_ms, p99_ms: best.latency.p99_ms, max_ms: best.latency.max_ms,
        server_cpu_pct: best.server_cpu_pct, cpu_pct: best.cpu_pct, gen_cpu_pct: best.gen_cpu_pct,
      },
      first_failing_step: firstFail && {
        target_events_per_s: firstFail.target_events_per_s, delivered_msgs_per_s: firstFail.delivered_msgs_per_s,
        lost: firstFail.lost, p99_ms: firstFail.latency.p99_ms, server_cpu_pct: firstFail.server_cpu_pct,
        cpu_pct: firstFail.cpu_pct, gen_cpu_pct: firstFail.gen_cpu_pct,
      },
      generator_saturated: steps.some((s) => s.gen_saturated),
      limited_by: !firstFail ? 'ladder-time' : (firstFail.gen_saturated ? 'generator?' : (firstFail.server_cpu_pct >= 90 ? 'server-cpu' : 'server-latency')),
      subscribers_open_at_end: conns.filter((c) => c.open).length,
    };
  }
  for (const c of conns) { c.closing = true; c.t.close(); }
  await sleep(300);
  for (const c of conns) c.t.destroy();
  agent.destroy();
  if (bus) bus.destroy();
  const out = {
    scenario: 'two-node-fanout',
    started_at: started,
    machine: machine(),
    params: { subs: SUB_TOTAL, channels: CHANNELS, layout: LAYOUT, ports: PORTS, publish_port: PUBLISH_PORT, step_s: STEP_S, start_rate: START, factor: FACTOR, p99_limit_ms: P99_LIMIT, payload_pad: PAYLOAD.length },
    setup: setupLoad,
    late_msgs: late,
    bogus_msgs: bogus,
    unexpected_closes: unexpectedCloses,
    pusher_errors: pusherErrors,
    http: { ok: httpOk, errors: httpErr, status: httpStatus },
    ...result,
  };
  const json = JSON.stringify(out, null, 2) + '\n';
  if (args.out) require('fs').writeFileSync(args.out, json);
  process.stdout.write(json);
  process.exit(0);
}
main().catch((e) => { console.error(e); process.exit(1); });
