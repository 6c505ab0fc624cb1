import HeraldBroker
import HeraldProtocol
import PubSubBridge
/// The `herald` Redis FUNCTION library (Lua) with one node's ``HistoryWindow`` and ``RedisDeployment`` baked in.
///
/// Baking the window in lets backends publish with nothing but the event:
/// `redis-cli FCALL herald_publish 1 'herald:{42}' '{"type":"x"}'`. On a Redis Cluster the library
/// publishes with `SPUBLISH` (the nodes subscribe with `SSUBSCRIBE`), and calls may name every key
/// they touch (`FCALL herald_publish 3 'herald:{42}' 'herald:{42}:log' 'herald:{42}:epoch' …`), which
/// keeps them off a slot while it migrates. ``version`` names the code revision, the window and the
/// deployment, so a node reloads the library only when it differs from what Redis has.
struct HeraldFunctionLibrary: Sendable, Equatable {
    /// How the library's error replies begin when it refuses an event or a request.
    static let refusalPrefix = "ERR herald:"

    /// Bump when the Lua code changes, so running nodes replace an older library.
    /// 5: the full key list (`<channel> <channel>:log <channel>:epoch`) and the sharded variant.
    /// 6: `herald_publish_validated`, for events the node has checked already.
    static let revision = 6

    /// The suffixes of the keys each function touches, after the channel (the full key list of a cluster call).
    static let keySuffixes = [":log", ":epoch"]

    let window: HistoryWindow
    let deployment: RedisDeployment

    init(window: HistoryWindow, deployment: RedisDeployment = .standalone) {
        self.window = window
        self.deployment = deployment
    }

    /// What `herald_version` returns, e.g. `5;maxEvents=1000;maxAgeMs=600000` (`;sharded` added on a cluster).
    var version: String {
        "\(Self.revision);maxEvents=\(self.window.maxEvents);maxAgeMs=\(self.window.maxAgeMilliseconds)\(self.deployment.versionSuffix)"
    }

    /// The library source for `FUNCTION LOAD`.
    var source: String {
        Self.template
            .replacingAll("@VERSION@", with: self.version)
            .replacingAll("@MAX_EVENTS@", with: String(self.window.maxEvents))
            .replacingAll("@MAX_AGE_MS@", with: String(self.window.maxAgeMilliseconds))
            .replacingAll("@PUBLISH@", with: self.deployment.publishCommand)
    }

    // Keys of account A (all in hash slot {A}): KEYS[1] = channel `herald:{A}`, `herald:{A}:log` (stream,
    // field `e` = the event exactly as clients receive it) and `herald:{A}:epoch` (string). A call names
    // the channel alone, or all three (KEYS[2], KEYS[3] must then be exactly those names): on a cluster a
    // declared key that a migrating slot's node lacks makes it answer TRYAGAIN instead of ASK, so the
    // function never runs on a node holding only part of the account's keys.
    //
    // Offsets: the stored and published bytes must contain their own offset, which `XADD *` only reveals
    // after storing. So herald_publish computes the entry id itself, the way `XADD *` would (ms = max(now, last
    // ms), seq = last seq + 1 within the same ms, else 0), splices the offset into the event and stores it
    // with that explicit id: one XADD, no rewrite of the entry, and the id is still monotonic when the clock
    // steps back. If the explicit id is refused (the newest entries were XDELed, so the stream's last
    // generated id is above its last entry), it retries once from XINFO's last-generated-id.
    //
    // Refusals: herald_publish answers `ERR herald: ...` and stores and publishes nothing when the event is not a
    // JSON object (cjson.decode under pcall, and the first character must be '{'), holds invalid UTF-8 anywhere
    // (overlong forms, surrogates, above U+10FFFF, truncated or stray bytes: clients would get a text frame
    // browsers reject, and loop replaying it), carries a top-level `offset` (the function adds the offset; a
    // second key would make parsers that keep the last one resume from the publisher's value), has a `type`
    // Herald's server sends itself (clients could not tell a forged `connected` or `recovery` from a real one),
    // or has a `user`, `channel` or `exclude_user` that is not a string or a number (null, boolean, array or
    // object: the node could never match it, so such a target must not be stored), or a `connection` target
    // (a reply to one connection, revision 4) that is not a string.
    //
    // Truncation: Redis 7.0 does not advance `max-deleted-entry-id` when trimming (only XDEL does), so
    // herald_read also counts deletions as `entries-added - length`: if anything was deleted and the
    // offset lies before the first remaining entry, events after it may be gone. This is conservative: a
    // reader whose offset is exactly the last trimmed entry is told it cannot recover.
    private static let template = #"""
        #!lua name=herald

        local VERSION = '@VERSION@'
        local MAX_EVENTS = @MAX_EVENTS@
        local MAX_AGE_MS = @MAX_AGE_MS@

        local PUBLISH = '@PUBLISH@'

        local function keys_of(channel)
            return channel .. ':log', channel .. ':epoch'
        end

        -- nil when KEYS is the channel alone or the channel with exactly its log and epoch keys, else why not.
        local function key_refusal(keys)
            if #keys == 1 then return nil end
            local log, epoch_key = keys_of(keys[1])
            if #keys == 3 and keys[2] == log and keys[3] == epoch_key then return nil end
            return 'keys must be <channel>, or <channel> <channel>:log <channel>:epoch'
        end

        -- Types only Herald's own server sends (the presence library publishes these with plain PUBLISH).
        local RESERVED_TYPES = {
            ['connected'] = true, ['recovery'] = true, ['pong'] = true, ['error'] = true, ['ack'] = true,
            ['presence.state'] = true, ['refreshed'] = true, ['presence.join'] = true, ['presence.leave'] = true,
            ['typing.start'] = true, ['typing.stop'] = true,
        }
        local TARGET_FIELDS = {'user', 'channel', 'exclude_user'}

        -- Whether s has a byte above 127. math.max over string.byte runs in C per 4000-byte slice (Lua 5.1's
        -- stack limit): measured 2.5x faster than string.find(s, '[\128-\255]'), whose matcher restarts per byte.
        local function has_high_byte(s)
            local byte, max = string.byte, math.max
            for i = 1, #s, 4000 do
                if max(byte(s, i, i + 3999)) > 127 then return true end
            end
            return false
        end

        -- Each well-formed multi-byte character by its lead byte, most common first (RFC 3629: no overlong
        -- forms, no surrogates ED A0..BF, nothing above U+10FFFF: F4 90.. and F5..FF).
        local UTF8_CHARACTERS = {
            '[\194-\223][\128-\191]',
            '[\225-\236\238\239][\128-\191][\128-\191]', '\224[\160-\191][\128-\191]', '\237[\128-\159][\128-\191]',
            '\240[\144-\191][\128-\191][\128-\191]', '[\241-\243][\128-\191][\128-\191][\128-\191]',
            '\244[\128-\143][\128-\191][\128-\191]',
        }

        -- Whether s is well-formed UTF-8. ASCII, the common case, costs one has_high_byte. Otherwise every
        -- well-formed character is replaced by an ASCII byte (a lead byte never continues another character, so
        -- matches can neither overlap nor join), and any byte above 127 left over is ill-formed.
        local function valid_utf8(s)
            if not has_high_byte(s) then return true end
            for _, character in ipairs(UTF8_CHARACTERS) do
                s = string.gsub(s, character, '_')
                if not has_high_byte(s) then return true end
            end
            return false
        end

        -- nil when the event may be published, else why not.
        local function refusal(event)
            if not string.find(event, '^%s*{') then return 'event must be a JSON object' end
            if not valid_utf8(event) then return 'event is not valid UTF-8' end
            local ok, decoded = pcall(cjson.decode, event)
            if not ok or type(decoded) ~= 'table' then return 'event is not valid JSON' end
            if decoded['offset'] ~= nil then
                return "event must not carry a top-level 'offset': herald_publish adds it"
            end
            local kind = decoded['type']
            if type(kind) == 'string' and RESERVED_TYPES[kind] then
                return "type '" .. kind .. "' is reserved for Herald's own messages"
            end
            for _, field in ipairs(TARGET_FIELDS) do
                local value = decoded[field]
                if value ~= nil and type(value) ~= 'string' and type(value) ~= 'number' then
                    return "'" .. field .. "' must be a string or a number"
                end
            end
            if decoded['connection'] ~= nil and type(decoded['connection']) ~= 'string' then
                return "'connection' must be a string (a connection_id)"
            end
            return nil
        end

        -- Splits a stream id '<ms>-<seq>' into its two decimal strings, or nil.
        local function split_id(id)
            return string.match(id, '^(%d+)%-(%d+)$')
        end

        -- Compares two decimal strings of any length exactly: -1, 0 or 1.
        local function compare_decimal(a, b)
            a = (string.gsub(a, '^0+(%d)', '%1'))
            b = (string.gsub(b, '^0+(%d)', '%1'))
            if #a ~= #b then return #a < #b and -1 or 1 end
            if a == b then return 0 end
            return a < b and -1 or 1
        end

        -- Compares two well-formed stream ids exactly: -1, 0 or 1.
        local function compare_id(a, b)
            local a_ms, a_seq = split_id(a)
            local b_ms, b_seq = split_id(b)
            local by_ms = compare_decimal(a_ms, b_ms)
            if by_ms ~= 0 then return by_ms end
            return compare_decimal(a_seq, b_seq)
        end

        -- XINFO STREAM as a table of its top-level fields.
        local function stream_info(log)
            local flat = redis.call('XINFO', 'STREAM', log)
            local info = {}
            for i = 1, #flat, 2 do info[flat[i]] = flat[i + 1] end
            return info
        end

        -- The epoch, created (hex of TIME's seconds and microseconds, 13 characters) when absent.
        local function get_or_create_epoch(epoch_key, time)
            local epoch = redis.call('GET', epoch_key)
            if epoch then return epoch, false end
            epoch = string.format('%x%05x', tonumber(time[1]), tonumber(time[2]))
            redis.call('SET', epoch_key, epoch)
            return epoch, true
        end

        -- The id of the newest entry, the stream's last generated id if it is empty, '0-0' if it is absent.
        local function last_id(log)
            local newest = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)[1]
            if newest then return newest[1] end
            if redis.call('EXISTS', log) == 1 then return stream_info(log)['last-generated-id'] end
            return '0-0'
        end

        -- The id XADD * would choose after `last` at `now_ms`.
        local function next_id(last, now_ms)
            local last_ms, last_seq = split_id(last)
            last_ms = tonumber(last_ms)
            if last_ms >= now_ms then
                return string.format('%d-%d', last_ms, tonumber(last_seq) + 1)
            end
            return string.format('%d-0', now_ms)
        end

        -- The event with '"offset":"<offset>"' as its first key; nil unless it starts with '{'.
        local function stamp(event, offset)
            local _, brace = string.find(event, '^%s*{')
            if not brace then return nil end
            local rest = string.sub(event, brace + 1)
            if string.find(rest, '^%s*}') then
                return '{"offset":"' .. offset .. '"' .. rest
            end
            return '{"offset":"' .. offset .. '",' .. rest
        end

        -- Stores the event with its offset and publishes the stamped bytes; the offset is the reply.
        local function store_and_publish(channel, event)
            local log, epoch_key = keys_of(channel)
            local time = redis.call('TIME')
            local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
            local epoch = get_or_create_epoch(epoch_key, time)

            local id = next_id(last_id(log), now_ms)
            local stamped = stamp(event, epoch .. ':' .. id)
            local added = redis.pcall('XADD', log, 'MAXLEN', '~', MAX_EVENTS, id, 'e', stamped)
            if type(added) == 'table' and added.err then
                id = next_id(stream_info(log)['last-generated-id'], now_ms)
                stamped = stamp(event, epoch .. ':' .. id)
                redis.call('XADD', log, 'MAXLEN', '~', MAX_EVENTS, id, 'e', stamped)
            end
            redis.call('XTRIM', log, 'MINID', '~', string.format('%d', now_ms - MAX_AGE_MS))
            redis.call('PEXPIRE', log, MAX_AGE_MS)
            redis.call('PEXPIRE', epoch_key, MAX_AGE_MS)
            redis.call(PUBLISH, channel, stamped)
            return epoch .. ':' .. id
        end

        local function publish(keys, args)
            local channel, event = keys[1], args[1]
            if not channel or not event then
                return redis.error_reply('ERR herald: usage: FCALL herald_publish 1 <channel> <event json>')
            end
            local refused = key_refusal(keys) or refusal(event)
            if refused then return redis.error_reply('ERR herald: ' .. refused) end
            return store_and_publish(channel, event)
        end

        -- The same without the event checks, for events an edge node built and checked itself with the
        -- same rules (its HTTP API): the checks (a JSON decode and a UTF-8 scan) are most of the
        -- function's cost. Backends call herald_publish.
        local function publish_validated(keys, args)
            local channel, event = keys[1], args[1]
            if not channel or not event then
                return redis.error_reply('ERR herald: usage: FCALL herald_publish_validated 1 <channel> <event json>')
            end
            local refused = key_refusal(keys)
            if refused then return redis.error_reply('ERR herald: ' .. refused) end
            return store_and_publish(channel, event)
        end

        local function read(keys, args)
            local channel, since, limit, max_total = keys[1], args[1], tonumber(args[2]), tonumber(args[3])
            local since_epoch, since_id = string.match(since or '', '^([0-9a-z]+):(%d+%-%d+)$')
            if not channel or not since_epoch then
                return redis.error_reply('ERR herald: since must be an offset <epoch>:<ms>-<seq>')
            end
            if key_refusal(keys) then return redis.error_reply('ERR herald: ' .. key_refusal(keys)) end
            if not limit or limit < 1 or limit ~= math.floor(limit) then
                return redis.error_reply('ERR herald: limit must be a positive integer')
            end
            local log, epoch_key = keys_of(channel)
            local epoch = redis.call('GET', epoch_key)
            if not epoch or epoch ~= since_epoch then return {epoch or '', 1, 0} end
            if redis.call('EXISTS', log) == 0 then
                -- Only the start of an empty history can be recovered from.
                if compare_id(since_id, '0-0') > 0 then return {epoch, 1, 0} end
                return {epoch, 0, 0}
            end

            local info = stream_info(log)
            if compare_id(since_id, info['last-generated-id']) > 0 then return {epoch, 1, 0} end
            if compare_id(info['max-deleted-entry-id'], since_id) > 0 then return {epoch, 1, 0} end
            if info['entries-added'] > info['length'] then
                -- Deletions happened, all before the first remaining entry (or the last id, if none remain).
                local first = info['first-entry']
                local first_id = first and first[1] or info['last-generated-id']
                if compare_id(since_id, first_id) < 0 then return {epoch, 1, 0} end
            end

            if max_total and max_total >= 1 then
                -- More than the reader may take? Decided here, without sending the window.
                local newest = redis.call('XREVRANGE', log, '+', '(' .. since_id, 'COUNT', max_total + 1)
                if #newest > max_total then return {epoch, 2, 0} end
            end
            local entries = redis.call('XRANGE', log, '(' .. since_id, '+', 'COUNT', limit + 1)
            local reply = {epoch, 0, 0}
            for i = 1, math.min(#entries, limit) do
                local fields = entries[i][2]
                for f = 1, #fields, 2 do
                    if fields[f] == 'e' then
                        reply[#reply + 1] = entries[i][1]
                        reply[#reply + 1] = fields[f + 1]
                        break
                    end
                end
            end
            if #entries > limit then reply[3] = 1 end
            return reply
        end

        local function position(keys)
            if key_refusal(keys) then return redis.error_reply('ERR herald: ' .. key_refusal(keys)) end
            local log, epoch_key = keys_of(keys[1])
            local epoch, created = get_or_create_epoch(epoch_key, redis.call('TIME'))
            if created then redis.call('PEXPIRE', epoch_key, MAX_AGE_MS) end
            return epoch .. ':' .. last_id(log)
        end

        redis.register_function{function_name = 'herald_publish', callback = publish}
        redis.register_function{function_name = 'herald_publish_validated', callback = publish_validated}
        redis.register_function{function_name = 'herald_read', callback = read, flags = {'no-writes'}}
        redis.register_function{function_name = 'herald_position', callback = position}
        redis.register_function{
            function_name = 'herald_version',
            callback = function() return VERSION end,
            flags = {'no-writes'},
        }
        """#
}

extension String {
    /// This string with every occurrence of `placeholder` replaced, without Foundation.
    fileprivate func replacingAll(_ placeholder: String, with replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: placeholder) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
