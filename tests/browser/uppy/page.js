// The page the Uppy browser test drives: unmodified Uppy from npm, configured the way
// docs/uppy.md tells a team to. Its only input is what a backend hands a page — the answer of
// POST /v1/browser-tokens — and where the signer is, read from the URL's fragment (never sent
// to a server) as JSON: {signerUrl, grant, restrict}.
import AwsS3 from '@uppy/aws-s3'
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import '@uppy/core/css/style.min.css'
import '@uppy/dashboard/css/style.min.css'

const { signerUrl, grant, restrict } = JSON.parse(decodeURIComponent(location.hash.slice(1)))

// Test instrument, not configuration: keep each answer the signer gives the page, so the test
// can read what reached the browser (Uppy itself shows only an error's status text).
const answers = []
const realFetch = window.fetch.bind(window)
window.fetch = async (input, init) => {
  const response = await realFetch(input, init)
  const url = String(input instanceof Request ? input.url : input)
  if (url.startsWith(signerUrl)) {
    const body = await response.clone().text()
    answers.push({ path: new URL(url).pathname.split('/').slice(3).join('/'), status: response.status, body })
  }
  return response
}

const uppy = new Uppy({
  // What the signer allows, so Uppy refuses the rest before a byte moves, in its own words.
  restrictions: restrict ? grant.restrictions : {},
})
  .use(Dashboard, {
    inline: true,
    target: '#uppy',
    width: 820,
    height: 440,
    proudlyDisplayPoweredByUppy: false,
  })
  .use(AwsS3, {
    companionEndpoint: signerUrl + grant.uppy_endpoint_path,
    // Every file a multipart upload (a small one is one PUT): the signer completes and checks it.
    shouldUseMultipart: true,
  })

const events = []
uppy.on('upload-success', (file, response) => {
  events.push({ event: 'success', name: file.name, key: response.body.key, location: response.uploadURL })
})
uppy.on('upload-error', (file, error) => {
  events.push({ event: 'error', name: file?.name, message: error.message })
})
uppy.on('restriction-failed', (file, error) => {
  events.push({ event: 'restriction', name: file?.name, message: error.message })
})
uppy.on('complete', (result) => {
  events.push({ event: 'complete', successful: result.successful.length, failed: result.failed.length })
})
window.uppyTest = { uppy, events, answers }
