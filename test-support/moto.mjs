// Starts a real moto_server (Python moto 5) on a free loopback port for tests, the benchmark and
// the local demo. Install elsewhere with: pip install "moto[server]"
import { spawn, spawnSync } from 'node:child_process'
import { freePort, waitFor } from './net.mjs'

const running = new Set()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export function motoAvailable() {
  return spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0
}

/**
 * @param {{ env?: Record<string, string> }} [options] extra environment for moto_server, such as
 *   INITIAL_NO_AUTH_ACTION_COUNT, after which moto enforces IAM policies on every request
 * @returns {Promise<{ endpoint: string, port: number, stop: () => Promise<void> }>}
 */
export async function startMoto(options = {}) {
  const port = await freePort()
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...options.env, PYTHONUNBUFFERED: '1' }
  })
  running.add(child)
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const spawnError = new Promise((_, reject) => {
    child.once('error', (error) =>
      reject(
        new Error(
          `moto_server could not start (${error.message}); install it with: pip install "moto[server]"`
        )
      )
    )
    child.once('exit', (code) => reject(new Error(`moto_server exited with ${code}: ${stderr}`)))
  })
  const endpoint = `http://127.0.0.1:${port}`
  await Promise.race([waitFor(`${endpoint}/moto-api/`, 30_000), spawnError])
  spawnError.catch(() => undefined)
  return {
    endpoint,
    port,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
      running.delete(child)
    }
  }
}
