-- wrk script for benches/soak.sh: cycles through the tokens in $SOAK_TOKENS and counts the
-- answers by status.
local tokens = {}
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(os.getenv("SOAK_TOKENS")) do
    if #line > 0 then table.insert(tokens, line) end
  end
  i = 0
  s200, s401, s403, s503, s5xx, sother = 0, 0, 0, 0, 0, 0
end

request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/v1/transactions", { ["Authorization"] = "Bearer " .. tokens[i] })
end

response = function(status, headers, body)
  if status == 200 then s200 = s200 + 1
  elseif status == 401 then s401 = s401 + 1
  elseif status == 403 then s403 = s403 + 1
  elseif status == 503 then s503 = s503 + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else sother = sother + 1 end
end

done = function(summary, latency, requests)
  local names = { "s200", "s401", "s403", "s503", "s5xx", "sother" }
  local total = {}
  for _, name in ipairs(names) do total[name] = 0 end
  for _, thread in ipairs(threads) do
    for _, name in ipairs(names) do total[name] = total[name] + thread:get(name) end
  end
  local e = summary.errors
  io.write(string.format("counts 200=%d 401=%d 403=%d 503=%d 5xx=%d other=%d socket_errors=%d\n",
    total.s200, total.s401, total.s403, total.s503, total.s5xx, total.sother,
    e.connect + e.read + e.write + e.timeout))
end
