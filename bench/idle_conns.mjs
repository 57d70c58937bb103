// Opens COUNT TLS connections to a loopback HTTPS server and sends one
// keep-alive GET on each. Once every connection has its response, it
// prints {"ready": true, ...} and keeps them open and idle for HOLD
// seconds, so that bench/run.sh can read the server's RSS meanwhile.
//
// usage: node idle_conns.mjs URL CA_PEM COUNT HOLD
import * as fs from 'node:fs'
import * as tls from 'node:tls'

const BATCH = 50              // connections opened at once
const OPEN_TIMEOUT_MS = 90000 // for opening all of them

function fail(message) {
    console.error(`idle_conns: ${message}`)
    process.exit(2)
}

const [urlText, caPath, countText, holdText] = process.argv.slice(2)
if (!holdText) {
    fail('usage: node idle_conns.mjs URL CA_PEM COUNT HOLD')
}
const url = new URL(urlText)
if (url.protocol !== 'https:' ||
    !['127.0.0.1', '[::1]'].includes(url.hostname)) {
    fail(`URL ${urlText} is not https on 127.0.0.1 or [::1]`)
}
const count = Number.parseInt(countText, 10)
const holdSeconds = Number.parseFloat(holdText)
if (!(count >= 1 && count <= 10000)) {
    fail(`invalid count ${countText}; use 1 to 10000`)
}
if (!(holdSeconds > 0 && holdSeconds <= 600)) {
    fail(`invalid hold time ${holdText}; use 0 to 600 seconds`)
}
const ca = fs.readFileSync(caPath)
const host = url.hostname.replace(/^\[|\]$/g, '')
const request = `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n` +
    'Connection: keep-alive\r\n\r\n'
const sockets = []
let answered = 0
let failed = 0
let closedWhileIdle = 0
let holding = false

// Opens one connection; resolves when its response starts to arrive or
// when it fails, so a failed connection never blocks the batch.
function openOne() {
    return new Promise(resolve => {
        const socket = tls.connect({host, port: Number(url.port), ca},
                                   () => socket.write(request))
        let done = false
        const finish = ok => {
            if (done) {
                return
            }
            done = true
            ok ? answered++ : failed++
            resolve()
        }
        socket.on('data', chunk => {
            finish(chunk.toString('latin1').startsWith('HTTP/1.1 200'))
        })
        socket.on('error', () => finish(false))
        socket.on('close', () => {
            if (holding) {
                closedWhileIdle++
            }
            finish(false)
        })
        sockets.push(socket)
    })
}

// Waits for promise, or for ms milliseconds, whichever comes first; the
// timer is cleared so that it does not keep the process alive.
async function withTimeout(promise, ms) {
    let timer
    const timeout = new Promise(resolve => {
        timer = setTimeout(resolve, Math.max(ms, 0))
    })
    await Promise.race([promise, timeout])
    clearTimeout(timer)
}

const deadline = Date.now() + OPEN_TIMEOUT_MS
for (let opened = 0; opened < count && Date.now() < deadline;
     opened += BATCH) {
    const batch = []
    for (let i = opened; i < Math.min(count, opened + BATCH); i++) {
        batch.push(openOne())
    }
    await withTimeout(Promise.all(batch), deadline - Date.now())
}
holding = true
console.log(JSON.stringify({ready: true, connections: count,
                            answered, failed}))
await new Promise(resolve => setTimeout(resolve, holdSeconds * 1000))
holding = false
console.log(JSON.stringify({held_seconds: holdSeconds,
                            closed_by_server: closedWhileIdle}))
for (const socket of sockets) {
    socket.destroy()
}
