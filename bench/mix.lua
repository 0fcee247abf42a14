-- wrk script: a realistic mix of webhooks (see bench/bodies.py), every request with a fresh
-- message id. BODIES names the file bench/bodies.py wrote.
local templates, signed = {}, {}
local counter, next_signed = 0, 0
thread_id = 0

local function split(line)
  local kind, path, header, body = line:match("^(%a)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = { ["Content-Type"] = "application/json" }
  local name, value = header:match("^([^:]+): (.*)$")
  if name then headers[name] = value end
  return kind, { path = path, headers = headers, body = body }
end

local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  local n = 0
  for line in io.lines(os.getenv("BODIES")) do
    local kind, r = split(line)
    if kind == "T" then
      templates[#templates + 1] = r
    else
      -- Each thread takes its own share of the signed bodies, so none is sent twice.
      if n % 2 == thread_id then signed[#signed + 1] = r end
      n = n + 1
    end
  end
end

function request()
  counter = counter + 1
  if counter % 8 == 0 and next_signed < #signed then
    next_signed = next_signed + 1
    local r = signed[next_signed]
    return wrk.format("POST", r.path, r.headers, r.body)
  end
  local r = templates[counter % #templates + 1]
  local id = "bench-" .. thread_id .. "-" .. counter
  return wrk.format("POST", r.path, r.headers, (r.body:gsub("@ID@", id)))
end
