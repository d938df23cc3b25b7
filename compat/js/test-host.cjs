// Loaded with `node --require` by compat/run: resolves PERMA_TEST_HOSTNAME to 127.0.0.1 in
// this process only, standing in for an /etc/hosts entry. The SDK's retry path (after a
// 429) refuses IP addresses and `localhost` as a base URL (its SSRF guard), so the
// rate-limited run talks to perma under a hostname.
const dns = require('node:dns')
const name = process.env.PERMA_TEST_HOSTNAME
if (name) {
  const lookup = dns.lookup
  dns.lookup = function (host, options, callback) {
    if (host !== name) return lookup.apply(this, arguments)
    if (typeof options === 'function') { callback = options; options = {} }
    if (options && options.all) return process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }])
    return process.nextTick(callback, null, '127.0.0.1', 4)
  }
}
