-- wrk script: a realistic mix of webhooks (see bench/bodies.py), every request with a fresh
-- message id. BODIES names the file bench/bodies.py wrote.
--
-- Cheap per request, so that wrk is not what limits a fast server: every request's bytes are
-- built once in init, split at the id's place; a request is then one table.concat with a
-- fixed-width id (so Content-Length is known in advance). Signed bodies are whole requests.
local templates, signed = {}, {}
local counter, next_signed = 0, 0
local ID_WIDTH = 16
thread_id = 0

local function split(line)
  local kind, path, header, body = line:match("^(%a)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = { ["Content-Type"] = "application/json" }
  local name, value = header:match("^([^:]+): (.*)$")
  if name then headers[name] = value end
  return kind, path, headers, body
end

-- The request with `@ID@` (in its body) as the places an id goes: the parts between them.
local function parts_of(path, headers, body)
  local pieces, start = {}, 1
  while true do
    local at = body:find("@ID@", start, true)
    if not at then break end
    pieces[#pieces + 1] = body:sub(start, at - 1)
    start = at + 4
  end
  pieces[#pieces + 1] = body:sub(start)
  local ids = #pieces - 1
  local length = #body - 4 * ids + ID_WIDTH * ids
  -- wrk.format sets Content-Length from the body it is given: give it one of the final length.
  local head = wrk.format("POST", path, headers, string.rep("x", length))
  pieces[1] = head:sub(1, #head - length) .. pieces[1]
  return pieces
end

local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  local n = 0
  for line in io.lines(os.getenv("BODIES")) do
    local kind, path, headers, body = split(line)
    if kind == "T" then
      templates[#templates + 1] = parts_of(path, headers, body)
    else
      -- Each thread takes its own share of the signed bodies, so none is sent twice.
      if n % 2 == thread_id then signed[#signed + 1] = wrk.format("POST", path, headers, body) end
      n = n + 1
    end
  end
end

function request()
  counter = counter + 1
  if counter % 8 == 0 and next_signed < #signed then
    next_signed = next_signed + 1
    return signed[next_signed]
  end
  local id = string.format("b%02d%013d", thread_id, counter)
  return table.concat(templates[counter % #templates + 1], id)
end
