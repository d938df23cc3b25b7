-- wrk script: each request is a random one of the paths in the file named by PATHS_FILE.
-- The requests are formatted once, up front, so that wrk's own cost per request is the same
-- whatever the number of distinct paths (LuaJIT would otherwise hash and intern a new
-- request string per request with many paths, and reuse a handful with few).
local requests = {}
init = function(args)
  for line in io.lines(os.getenv("PATHS_FILE")) do
    requests[#requests + 1] = wrk.format("GET", line)
  end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end
request = function()
  return requests[math.random(#requests)]
end
