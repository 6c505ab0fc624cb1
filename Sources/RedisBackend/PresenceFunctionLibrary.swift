import HeraldBroker
import HeraldProtocol
import Presence
import PubSubBridge
/// The `herald_presence` Redis FUNCTION library (Lua): presence and typing changes and the events
/// they publish, each one atomic step so concurrent nodes can never emit an event twice.
///
/// Keys of account A, all in hash slot {A} (KEYS[1] is the channel `herald:{A}`):
/// `herald:{A}:presence` — sorted set, member `<user>\x1f<connection>`, score = expiry (Redis ms);
/// `herald:{A}:presence:users` — hash, user → live connection count;
/// `herald:{A}:presence:info` — hash, user → the token's `info` JSON;
/// `herald:{A}:typing` — sorted set, member `<conversation>\x1f<user>`, score = expiry (Redis ms).
/// Time is Redis's own (`TIME`), so node clocks never disagree about expiry.
///
/// When a node has a lifecycle stream (`HERALD_LIFECYCLE_STREAM`), join, leave and heartbeat get
/// it as KEYS[2] (and nothing else: exactly two keys) and append each `presence.join`/`presence.leave`
/// there in the same atomic step as the event (fields `event`, `account`, `user`, `at`): exactly once
/// per transition, however many nodes act. That key lies outside the account's hash slot, which
/// standalone Redis allows; Redis Cluster would refuse it (CROSSSLOT), so nodes on a cluster run
/// without it and name every key a call touches instead (``keySuffixes``): a slot in migration then
/// answers TRYAGAIN rather than run the call on a node with part of the account's keys. On a cluster
/// the events go out with `SPUBLISH`.
struct PresenceFunctionLibrary: Sendable, Equatable {
    /// Bump when the Lua code changes, so running nodes replace an older library.
    /// 2: the optional lifecycle stream. 3: full key lists and the sharded variant.
    static let revision = "3"

    /// The keys presence calls touch, after the channel (the full key list of a cluster call).
    static let presenceSuffixes = [":presence", ":presence:users", ":presence:info"]
    /// The key typing calls touch, after the channel.
    static let typingSuffixes = [":typing"]

    let deployment: RedisDeployment

    init(deployment: RedisDeployment = .standalone) {
        self.deployment = deployment
    }

    /// What `herald_presence_version` returns.
    var version: String { Self.revision + deployment.versionSuffix }

    /// The library source for `FUNCTION LOAD`.
    var source: String {
        Self.template.replacingOccurrences(of: "@VERSION@", with: version)
            .replacingOccurrences(of: "@PUBLISH@", with: deployment.publishCommand)
    }

    private static let template = #"""
        #!lua name=herald_presence

        local SEP = '\31'
        local PUBLISH = '@PUBLISH@'

        -- The lifecycle stream: KEYS[2] when the call names exactly two keys (a cluster call names the
        -- account's own keys after the channel, and has none).
        local function lifecycle_of(keys)
            if #keys == 2 then return keys[2] end
            return nil
        end

        local function now_ms()
            local t = redis.call('TIME')
            return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        local function keys_of(channel)
            return channel .. ':presence', channel .. ':presence:users', channel .. ':presence:info'
        end

        local function emit(channel, kind, data, exclude)
            local event = {type = kind, data = data}
            if exclude then event['exclude_user'] = exclude end
            redis.call(PUBLISH, channel, cjson.encode(event))
        end

        -- Appends a user-level transition to the lifecycle stream, when the node passed one.
        local function journal(lifecycle, channel, kind, user)
            if not lifecycle then return end
            local account = string.match(channel, '^herald:{(.*)}$') or channel
            redis.call('XADD', lifecycle, '*', 'event', kind, 'account', account, 'user', user, 'at', tostring(now_ms()))
        end

        local function arrived(channel, users, info, user, user_info, lifecycle)
            local count = redis.call('HINCRBY', users, user, 1)
            if user_info and user_info ~= '' then redis.call('HSET', info, user, user_info) end
            if count == 1 then
                local data = {user = user}
                local stored = redis.call('HGET', info, user)
                if stored then data['info'] = cjson.decode(stored) end
                emit(channel, 'presence.join', data)
                journal(lifecycle, channel, 'presence.join', user)
            end
        end

        local function departed(channel, users, info, user, lifecycle)
            local count = redis.call('HINCRBY', users, user, -1)
            if count <= 0 then
                redis.call('HDEL', users, user)
                redis.call('HDEL', info, user)
                emit(channel, 'presence.leave', {user = user})
                journal(lifecycle, channel, 'presence.leave', user)
            end
        end

        local function touch(ttl, ...)
            for _, key in ipairs({...}) do redis.call('PEXPIRE', key, ttl) end
        end

        -- KEYS: channel, lifecycle stream?; ARGV: user, connection, entry_ttl_ms, key_ttl_ms, info_json
        local function join(keys, args)
            local channel = keys[1]
            local zset, users, info = keys_of(channel)
            local user, connection = args[1], args[2]
            local member = user .. SEP .. connection
            if redis.call('ZADD', zset, now_ms() + tonumber(args[3]), member) == 1 then
                arrived(channel, users, info, user, args[5], lifecycle_of(keys))
            end
            touch(tonumber(args[4]), zset, users, info)
            return 1
        end

        -- KEYS: channel, lifecycle stream?; ARGV: user, connection
        local function leave(keys, args)
            local channel = keys[1]
            local zset, users, info = keys_of(channel)
            local user = args[1]
            if redis.call('ZREM', zset, user .. SEP .. args[2]) == 1 then
                departed(channel, users, info, user, lifecycle_of(keys))
                return 1
            end
            return 0
        end

        -- KEYS: channel, lifecycle stream?; ARGV: entry_ttl_ms, key_ttl_ms, then user, connection pairs of this node.
        -- Refreshes this node's entries (re-joining any that were swept meanwhile), then removes
        -- every expired entry, publishing the leaves a dead node never sent.
        local function heartbeat(keys, args)
            local channel = keys[1]
            local zset, users, info = keys_of(channel)
            local now = now_ms()
            local expiry = now + tonumber(args[1])
            for i = 3, #args, 2 do
                local user = args[i]
                if redis.call('ZADD', zset, expiry, user .. SEP .. args[i + 1]) == 1 then
                    arrived(channel, users, info, user, nil, lifecycle_of(keys))
                end
            end
            local expired = redis.call('ZRANGEBYSCORE', zset, '-inf', now)
            for _, member in ipairs(expired) do
                redis.call('ZREM', zset, member)
                departed(channel, users, info, string.match(member, '^(.*)' .. SEP), lifecycle_of(keys))
            end
            touch(tonumber(args[2]), zset, users, info)
            return #expired
        end

        -- KEYS: channel. Returns user, connections, info triples of unexpired entries.
        local function users(keys, args)
            local zset, _, info = keys_of(keys[1])
            local counts, order = {}, {}
            for _, member in ipairs(redis.call('ZRANGEBYSCORE', zset, now_ms(), '+inf')) do
                local user = string.match(member, '^(.*)' .. SEP)
                if not counts[user] then
                    counts[user] = 0
                    table.insert(order, user)
                end
                counts[user] = counts[user] + 1
            end
            local reply = {}
            for _, user in ipairs(order) do
                table.insert(reply, user)
                table.insert(reply, counts[user])
                table.insert(reply, redis.call('HGET', info, user) or '')
            end
            return reply
        end

        -- KEYS: channel; ARGV: conversation, user, typing_ttl_ms, key_ttl_ms, echo (0/1)
        local function typing_start(keys, args)
            local channel = keys[1]
            local typing = channel .. ':typing'
            local added = redis.call('ZADD', typing, now_ms() + tonumber(args[3]), args[1] .. SEP .. args[2])
            redis.call('PEXPIRE', typing, tonumber(args[4]))
            if added == 1 then
                emit(channel, 'typing.start', {conversation_id = args[1], user = args[2]}, args[5] == '0' and args[2] or nil)
            end
            return added
        end

        -- KEYS: channel; ARGV: conversation, user, echo (0/1)
        local function typing_stop(keys, args)
            local channel = keys[1]
            if redis.call('ZREM', channel .. ':typing', args[1] .. SEP .. args[2]) == 1 then
                emit(channel, 'typing.stop', {conversation_id = args[1], user = args[2]}, args[3] == '0' and args[2] or nil)
                return 1
            end
            return 0
        end

        -- KEYS: channel; ARGV: echo (0/1). Ends expired typing states; returns ms until the next
        -- expiry, or -1 when none is left.
        local function typing_sweep(keys, args)
            local channel = keys[1]
            local typing = channel .. ':typing'
            local now = now_ms()
            for _, member in ipairs(redis.call('ZRANGEBYSCORE', typing, '-inf', now)) do
                redis.call('ZREM', typing, member)
                local conversation, user = string.match(member, '^(.*)' .. SEP .. '(.*)$')
                emit(channel, 'typing.stop', {conversation_id = conversation, user = user}, args[1] == '0' and user or nil)
            end
            local upcoming = redis.call('ZRANGE', typing, 0, 0, 'WITHSCORES')
            if upcoming[2] then return math.max(0, tonumber(upcoming[2]) - now) end
            return -1
        end

        redis.register_function{function_name = 'herald_presence_version', callback = function() return '@VERSION@' end, flags = {'no-writes'}}
        redis.register_function('herald_presence_join', join)
        redis.register_function('herald_presence_leave', leave)
        redis.register_function('herald_presence_heartbeat', heartbeat)
        redis.register_function{function_name = 'herald_presence_users', callback = users, flags = {'no-writes'}}
        redis.register_function('herald_typing_start', typing_start)
        redis.register_function('herald_typing_stop', typing_stop)
        redis.register_function('herald_typing_sweep', typing_sweep)
        """#
}
