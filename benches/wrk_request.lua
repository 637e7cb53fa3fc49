-- The request wrk repeats, from the environment (benches/compare.py sets it):
--   WRK_METHOD   GET (default), PROPFIND, ...
--   WRK_HEADERS  "Name: value" lines, separated by newlines
wrk.method = os.getenv("WRK_METHOD") or "GET"
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end
