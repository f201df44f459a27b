'use strict';
// Where multinode_gen.js's subscribers connect and which channel each joins. A module of its
// own so tests/loadtests can check the layouts without servers or the shared generator.

// The layouts multinode_gen.js accepts:
// - spread: every channel has subscribers on every node that has subscribers (what a channel
//   looks like when its users connect wherever the load balancer sends them);
// - local: channel c's subscribers all on node c % nodes (what interest routing serves best).
const LAYOUTS = ['spread', 'local'];

// Subscriber i -> { node, channel } (indexes). `perNode` (subs_per_port) gives each node's
// count; without it `subs` are dealt to node i % nodes, so connections alternate between nodes.
// Within a node, its k-th subscriber takes channel k % channels (spread) or the node's
// k-th channel in turn (local). Throws an Error saying why when the layout cannot be honoured.
function placement({ nodes, subs = 0, perNode = null, channels = 1, layout = 'spread' }) {
  if (!LAYOUTS.includes(layout)) throw new Error(`layout=${layout}: want one of ${LAYOUTS.join(', ')}`);
  if (!(Number.isInteger(channels) && channels >= 1)) throw new Error(`channels=${channels}: want a whole number >= 1`);
  if (perNode && perNode.length !== nodes) throw new Error(`subs_per_port has ${perNode.length} counts for ${nodes} nodes`);
  if (layout === 'local' && channels < nodes) throw new Error('layout=local needs channels >= nodes');
  const order = [];
  if (perNode) perNode.forEach((n, node) => { for (let k = 0; k < n; k++) order.push(node); });
  else for (let i = 0; i < subs; i++) order.push(i % nodes);
  const taken = new Array(nodes).fill(0);
  const places = order.map((node) => {
    const k = taken[node]++;
    if (layout === 'spread') return { node, channel: k % channels };
    const mine = Math.ceil((channels - node) / nodes); // channels node, node + nodes, ...
    return { node, channel: node + nodes * (k % mine) };
  });
  check(places, channels, layout);
  return places;
}

// Refuse a placement that is not what its layout promises, so a figure is never reported
// under a layout it was not measured with.
function check(places, channels, layout) {
  const nodesOf = Array.from({ length: channels }, () => new Set());
  for (const { node, channel } of places) nodesOf[channel].add(node);
  const busy = new Set(places.map((p) => p.node)).size;
  const want = layout === 'spread' ? Math.max(1, busy) : 1;
  const hint = layout === 'spread' ? `want >= ${channels} subscribers on each node that has any` : 'want each node to have at least as many subscribers as channels';
  nodesOf.forEach((on, c) => {
    if (on.size < want) throw new Error(`layout=${layout}: channel ${c} would have subscribers on ${on.size} node(s), not ${want} (${hint})`);
  });
}

module.exports = { LAYOUTS, placement };
