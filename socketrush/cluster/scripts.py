"""Lua scripts that read and change one app's shared state atomically.

Each script touches keys of one app only (one Redis Cluster slot), so two nodes deciding at
the same moment whether a channel became occupied or a user joined cannot both decide "yes".
A presence field is `<node id>|<user id>`; node ids are hex, so the first `|` splits it.
"""

from socketrush.redis_client import RedisKeys

# KEYS: per-channel hash (node -> count), per-node hash (channel -> count)
# ARGV: node, channel, this node's count now
# Returns {change, total, version, before}: change 1 when the channel became occupied cluster-wide,
# -1 when vacated, else 0; total is the cluster-wide count after the change; version orders
# the channel's counts (the server clock in µs: one channel's changes run on one server, one
# at a time), so a node can drop a count that pub/sub delivered after a newer one; before is
# this node's count before the write (equal to the new one: nothing changed).
SUBSCRIPTIONS = """
local new = tonumber(ARGV[3])
local old, others = 0, 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] == ARGV[1] then old = tonumber(all[i + 1]) else others = others + tonumber(all[i + 1]) end
end
if new > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], new)
  redis.call('HSET', KEYS[2], ARGV[2], new)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[2])
end
local change = 0
if others == 0 and old == 0 and new > 0 then change = 1 end
if others == 0 and old > 0 and new == 0 then change = -1 end
local now = redis.call('TIME')
return {change, others + new, tonumber(now[1]) * 1000000 + tonumber(now[2]), old}
"""

# KEYS: per-app hash (node -> connections)
# ARGV: node, this node's count with the new connection, the app's connection limit
# Returns 1 and writes the new count when the cluster-wide total stays within the limit, else 0.
RESERVE_CONNECTION = """
local total = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then total = total + tonumber(all[i + 1]) end
end
if total > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# KEYS: presence hash, per-node set of presence channels
# ARGV: node, user id, user info JSON, max members (0: none), channel
# Returns {status, user, info, user, info, ...}: status 0 = refused (full), 1 = new
# cluster-wide, 2 = already a member elsewhere. The list is every member after the join.
JOIN = """
local all = redis.call('HGETALL', KEYS[1])
local users, count, present = {}, 0, false
for i = 1, #all, 2 do
  local uid = string.sub(all[i], string.find(all[i], '|', 1, true) + 1)
  if users[uid] == nil then users[uid] = all[i + 1]; count = count + 1 end
  if uid == ARGV[2] then present = true end
end
local limit = tonumber(ARGV[4])
if not present and limit > 0 and count >= limit then return {0} end
redis.call('HSET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[5])
users[ARGV[2]] = ARGV[3]
local out = {present and 2 or 1}
for uid, info in pairs(users) do out[#out + 1] = uid; out[#out + 1] = info end
return out
"""

# KEYS: presence hash, per-node set of presence channels
# ARGV: node, user id, channel
# Returns 1 when this removed the user's last field (member_removed is due), else 0: a
# repeated leave (a replay after an outage) announces nothing twice.
LEAVE = """
local mine = ARGV[1] .. '|'
local gone = redis.call('HDEL', KEYS[1], mine .. ARGV[2])
local node_left = 1
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local sep = string.find(field, '|', 1, true)
  if string.sub(field, sep + 1) == ARGV[2] then gone = 0 end
  if string.sub(field, 1, sep) == mine then node_left = 0 end
end
if node_left == 1 then redis.call('SREM', KEYS[2], ARGV[3]) end
return gone
"""

# KEYS: presence hash.  ARGV: dead node.
# Removes the node's members; returns the users no other node has (member_removed is due).
REAP_PRESENCE = """
local prefix = ARGV[1] .. '|'
local removed = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #prefix) == prefix then
    redis.call('HDEL', KEYS[1], field)
    removed[#removed + 1] = string.sub(field, #prefix + 1)
  end
end
local remaining = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  remaining[string.sub(field, string.find(field, '|', 1, true) + 1)] = true
end
local gone = {}
for _, uid in ipairs(removed) do
  if not remaining[uid] then gone[#gone + 1] = uid end
end
return gone
"""


def subscription_keys(keys: RedisKeys, app_id: str, node: str, channel: str) -> list[str]:
    """SUBSCRIPTIONS' KEYS for `node`'s count of `channel`."""
    return [keys.app(app_id, "subs", channel), keys.app(app_id, "node", node, "channels")]


def presence_keys(keys: RedisKeys, app_id: str, node: str, channel: str) -> list[str]:
    """JOIN's and LEAVE's KEYS for `node`'s members of `channel`."""
    return [keys.app(app_id, "presence", channel), keys.app(app_id, "node", node, "presence")]
