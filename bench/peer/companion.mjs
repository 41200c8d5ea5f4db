// Uppy Companion as many teams deploy it for direct S3 uploads: its express app mounted in a
// plain express server, S3 credentials in the server, answering GET /s3/params (a presigned
// POST form for one upload). `make bench` (bench/peer.py) starts it against the bench's MinIO.
//
// Configuration comes from the environment so no secret is in argv: PEER_PORT, PEER_S3_ENDPOINT,
// PEER_S3_KEY, PEER_S3_SECRET, PEER_S3_BUCKET, PEER_S3_REGION, PEER_DATA_DIR, PEER_SECRET.
import { createRequire } from 'node:module'
import express from 'express'
import * as companion from '@uppy/companion'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is required`)
  return value
}
const port = Number(env('PEER_PORT'))
const { app } = companion.app({
  s3: {
    key: env('PEER_S3_KEY'),
    secret: env('PEER_S3_SECRET'),
    bucket: env('PEER_S3_BUCKET'),
    region: env('PEER_S3_REGION'),
    endpoint: env('PEER_S3_ENDPOINT'),
    forcePathStyle: true, // MinIO serves buckets by path
  },
  server: { host: `127.0.0.1:${port}`, protocol: 'http' },
  filePath: env('PEER_DATA_DIR'),
  secret: env('PEER_SECRET'),
  uploadUrls: [env('PEER_S3_ENDPOINT')],
  corsOrigins: true,
})
const server = express()
server.use(app)
server.get('/healthz', (req, res) => res.json({ status: 'ok' }))
const version = createRequire(import.meta.url)('@uppy/companion/package.json').version
server.listen(port, '127.0.0.1', () => {
  console.log(`companion ${version} listening on 127.0.0.1:${port}`)
})
process.on('SIGTERM', () => process.exit(0))
