// Runs one loadtest measurement: POSTs the request bodies of a file (one
// per line, cycling) to a URL over HTTPS with keep-alive, and prints one
// JSON line with the counts and latency percentiles for bench/run.sh.
//
// usage: node loadtest_post.mjs URL BODIES CA_PEM CONCURRENCY SECONDS
// The Authorization header value, if any, comes from BENCH_AUTH.
//
// loadtest's own keep-alive agent opens at most 10 sockets (loadtest
// 8.2.1, lib/httpClient.js), which would queue 50 or 100 clients on 10
// connections, so the request generator uses an agent with one socket
// per client instead.
import * as fs from 'node:fs'
import * as https from 'node:https'
import {loadTest} from 'loadtest'

function fail(message) {
    console.error(`loadtest_post: ${message}`)
    process.exit(2)
}

const [url, bodiesPath, caPath, concurrencyText, secondsText] =
    process.argv.slice(2)
if (!secondsText) {
    fail('usage: node loadtest_post.mjs URL BODIES CA_PEM CONCURRENCY SECONDS')
}
const concurrency = Number.parseInt(concurrencyText, 10)
const seconds = Number.parseFloat(secondsText)
if (!(concurrency >= 1 && concurrency <= 10000)) {
    fail(`invalid concurrency ${concurrencyText}; use 1 to 10000`)
}
if (!(seconds > 0 && seconds <= 600)) {
    fail(`invalid duration ${secondsText}; use 0 to 600 seconds`)
}
const bodies = fs.readFileSync(bodiesPath, 'utf8').split('\n')
    .filter(line => line.length > 0)
if (bodies.length === 0) {
    fail(`no request body in ${bodiesPath}`)
}
const ca = fs.readFileSync(caPath)
const auth = process.env.BENCH_AUTH || ''
const agent = new https.Agent({keepAlive: true, maxSockets: concurrency})
let nextBody = 0

function requestGenerator(options, params, client, callback) {
    const body = bodies[nextBody]
    nextBody = (nextBody + 1) % bodies.length
    params.agent = agent
    params.ca = ca
    params.method = 'POST'
    params.headers['Content-Type'] = 'application/json'
    params.headers['Content-Length'] = Buffer.byteLength(body)
    if (auth) {
        params.headers['Authorization'] = auth
    }
    const request = client(params, callback)
    request.write(body)
    return request
}

const result = await loadTest({
    url,
    concurrency,
    maxSeconds: seconds,
    timeout: 10000,
    quiet: true,
    requestGenerator,
})
agent.destroy()
console.log(JSON.stringify({
    requests: result.totalRequests,
    errors: result.totalErrors,
    error_codes: result.errorCodes,
    seconds: result.elapsedSeconds,
    rps: result.totalRequests / result.elapsedSeconds,
    p50_ms: result.percentiles['50'],
    p99_ms: result.percentiles['99'],
    mean_ms: result.meanLatencyMs,
}))
