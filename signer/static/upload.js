// Direct-to-storage upload through a minio-stack signer. Dependency-free ES module: copy it.
//
//   import { upload } from "./upload.js";
//   const { object_key, get_url } = await upload(file, {
//     signerUrl: "https://signer.example.com", token, profile: "images",
//     onProgress: ({ stage, loaded, total }) => ...,
//   });
//
// The signer checks policy and returns presigned URLs; the bytes go from the browser
// straight to storage (a cross-origin PUT, so storage must allow this page's origin).
// Failures reject with an UploadError whose message says what went wrong in words a
// person can act on, and whose `hint` says how to fix it.

const DEFAULT_CONCURRENCY = 4;
const PART_URL_BATCH = 50;
const MAX_ATTEMPTS = 3;
const RETRY_DELAY_MS = 500;

// Headers a page may not set (Fetch standard); the browser sends its own. Content-Length is
// the one a presign lists: the browser sends the true length, which equals the signed one
// when the file is the declared size.
const FORBIDDEN_HEADERS = new Set([
  "accept-charset", "accept-encoding", "access-control-request-headers",
  "access-control-request-method", "connection", "content-length", "cookie", "cookie2",
  "date", "dnt", "expect", "host", "keep-alive", "origin", "referer", "set-cookie", "te",
  "trailer", "transfer-encoding", "upgrade", "via",
]);

export class UploadError extends Error {
  /**
   * @param {string} message what went wrong, for a person
   * @param {{code?: string, hint?: string, status?: number, source?: string,
   *          retryAfterSeconds?: number, detail?: string}} [info]
   *   source is "signer", "storage" or "browser"; detail is the raw server text.
   */
  constructor(message, info = {}) {
    super(message);
    this.name = "UploadError";
    this.code = info.code || "upload_failed";
    this.hint = info.hint || null;
    this.status = info.status ?? null;
    this.source = info.source || "browser";
    this.retryAfterSeconds = info.retryAfterSeconds ?? null;
    this.detail = info.detail || null;
  }
}

/**
 * Upload one File (or Blob) and return the signer's completion answer.
 * @param {File|Blob} file
 * @param {{signerUrl?: string, token: string, profile?: string, multipart?: "auto"|"force"|"off",
 *          contentType?: string, filename?: string, concurrency?: number, signal?: AbortSignal,
 *          onProgress?: (p: {stage: string, loaded: number, total: number,
 *                            strategy: string|null, parts: number}) => void}} options
 *   stage goes presign → upload → complete → done; strategy and parts are known after presign.
 * @returns {Promise<{object_key: string, get_url: string, size_bytes: number, etag: string,
 *                    content_type: string}>}
 */
export async function upload(file, options) {
  const opts = options || {};
  if (!opts.token) throw new UploadError("No signer token was given to upload().", { code: "bad_request" });
  const signer = new SignerClient(opts.signerUrl || "", opts.token, opts.signal);
  const total = file.size;
  let plan = { strategy: null, parts: 0 };
  const report = (stage, loaded) => {
    if (opts.onProgress) opts.onProgress({ stage, loaded, total, ...plan });
  };

  report("presign", 0);
  const request = {
    filename: opts.filename ?? file.name ?? undefined,
    content_type: opts.contentType || file.type || "application/octet-stream",
    size_bytes: total,
    multipart: opts.multipart || "auto",
  };
  if (opts.profile) request.profile = opts.profile;
  const presign = await signer.post("/v1/uploads/presign", request);
  plan = {
    strategy: presign.strategy,
    parts: presign.strategy === "multipart" ? presign.upload.part_count : 1,
  };

  let body;
  try {
    if (presign.strategy === "multipart") {
      const parts = await uploadParts(file, presign, signer, opts, report);
      body = { intent_token: presign.intent_token, parts };
    } else {
      const { method, url, headers } = presign.upload;
      report("upload", 0);
      await sendWithRetry(() => putBlob(method || "PUT", url, file, headers, {
        signal: opts.signal, onProgress: (loaded) => report("upload", loaded),
      }), opts.signal);
      body = { intent_token: presign.intent_token };
    }
  } catch (err) {
    // Frees the parts storage already holds and retires the intent. Best effort: the
    // upload's own error is the one worth showing.
    new SignerClient(opts.signerUrl || "", opts.token)
      .post("/v1/uploads/abort", { intent_token: presign.intent_token })
      .catch(() => {});
    throw err;
  }
  report("complete", total);
  const completion = await signer.post("/v1/uploads/complete", body);
  report("done", total);
  return completion;
}

async function uploadParts(file, presign, signer, opts, report) {
  const { part_size: partSize, part_count: partCount } = presign.upload;
  const urls = new PartUrls(presign, signer);
  const loaded = new Array(partCount + 1).fill(0);
  const sum = () => loaded.reduce((a, b) => a + b, 0);
  const etags = new Array(partCount + 1);
  const inflight = new AbortController();
  const abortAll = () => inflight.abort();
  if (opts.signal) opts.signal.addEventListener("abort", abortAll, { once: true });

  let next = 1;
  const worker = async () => {
    while (next <= partCount && !inflight.signal.aborted) {
      const n = next++;
      const start = (n - 1) * partSize;
      const blob = file.slice(start, Math.min(start + partSize, file.size));
      const etag = await sendWithRetry(async () => {
        const part = await urls.get(n);
        loaded[n] = 0;
        const res = await putBlob("PUT", part.url, blob, part.headers, {
          signal: inflight.signal,
          onProgress: (bytes) => { loaded[n] = bytes; report("upload", sum()); },
        });
        if (!res.etag) {
          throw new UploadError(
            `Storage accepted part ${n} but did not let this page read its ETag, which ` +
            "completing a multipart upload needs.",
            { code: "etag_hidden", source: "storage",
              hint: "Expose the ETag response header in storage's CORS settings." });
        }
        return res.etag;
      }, inflight.signal);
      etags[n] = etag;
      loaded[n] = blob.size;
      report("upload", sum());
    }
  };

  report("upload", 0);
  const workers = Array.from({ length: Math.min(opts.concurrency || DEFAULT_CONCURRENCY, partCount) },
    () => worker().catch((err) => { abortAll(); throw err; }));
  try {
    // allSettled, then the first real failure: the others are only "aborted" echoes of it.
    const results = await Promise.allSettled(workers);
    const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason);
    if (failures.length) throw failures.find((e) => e.code !== "aborted") || failures[0];
    if (inflight.signal.aborted) throw aborted();
  } finally {
    if (opts.signal) opts.signal.removeEventListener("abort", abortAll);
  }
  return etags.slice(1).map((etag, i) => ({ part_number: i + 1, etag }));
}

// Part URLs: those the presign returned, then more from the signer in batches as workers
// reach them, so late parts get URLs that have not aged.
class PartUrls {
  constructor(presign, signer) {
    this.intentToken = presign.intent_token;
    this.partCount = presign.upload.part_count;
    this.signer = signer;
    this.known = new Map();
    this.pending = new Map();
    for (const part of presign.upload.parts || []) this.known.set(part.part_number, part);
  }

  async get(n) {
    if (this.known.has(n)) return this.known.get(n);
    if (!this.pending.has(n)) {
      const numbers = [];
      for (let i = n; i <= this.partCount && numbers.length < PART_URL_BATCH; i++) {
        if (!this.known.has(i) && !this.pending.has(i)) numbers.push(i);
      }
      const batch = this.signed(numbers).then((answer) => {
        for (const part of answer.parts || []) this.known.set(part.part_number, part);
      }).finally(() => { for (const i of numbers) this.pending.delete(i); });
      for (const i of numbers) this.pending.set(i, batch);
    }
    await this.pending.get(n);
    const part = this.known.get(n);
    if (!part) {
      throw new UploadError(`The signer did not return an upload URL for part ${n}.`,
        { code: "bad_signer_answer", source: "signer" });
    }
    return part;
  }

  // An intent token lives minutes; a long upload renews it (same upload, same window) when
  // the signer says it expired, then asks again.
  async signed(numbers) {
    const ask = () => this.signer.post("/v1/uploads/parts", {
      intent_token: this.intentToken, part_numbers: numbers,
    });
    try {
      return await ask();
    } catch (err) {
      if (err.code !== "signature_invalid" || !/expired/.test(err.message)) throw err;
      const renewed = await this.signer.post("/v1/uploads/refresh", { intent_token: this.intentToken });
      this.intentToken = renewed.intent_token;
      return ask();
    }
  }
}

// Storage answers 5xx when busy; a dropped connection looks like status 0. Both are worth
// another try; a refusal (4xx) or a CORS rejection is not.
async function sendWithRetry(send, signal) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      const transient = err.code === "storage_busy" || err.code === "storage_unreachable";
      if (!transient || attempt >= MAX_ATTEMPTS || (signal && signal.aborted)) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
    }
  }
}

// XMLHttpRequest rather than fetch: fetch has no upload progress.
function putBlob(method, url, blob, headers, { signal, onProgress }) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(aborted());
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers || {})) {
      const lower = name.toLowerCase();
      if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith("proxy-") || lower.startsWith("sec-")) continue;
      xhr.setRequestHeader(name, value);
    }
    const onAbort = () => xhr.abort();
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
    const settle = (fn, value) => {
      if (signal) signal.removeEventListener("abort", onAbort);
      fn(value);
    };
    xhr.upload.onprogress = (e) => { if (onProgress) onProgress(e.loaded); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        settle(resolve, { status: xhr.status, etag: xhr.getResponseHeader("ETag") });
      } else {
        settle(reject, storageError(xhr.status, xhr.responseText, url));
      }
    };
    // A CORS rejection and an unreachable host look the same here (status 0, no detail).
    xhr.onerror = () => { networkError(url).then((err) => settle(reject, err)); };
    xhr.onabort = () => settle(reject, aborted());
    xhr.send(blob);
  });
}

function aborted() {
  return new UploadError("The upload was cancelled.", { code: "aborted" });
}

// The page cannot read why a cross-origin request failed. A no-cors request to the same
// origin tells the two causes apart: it succeeds (opaquely) when the host is reachable, so
// the earlier failure was storage refusing this page's origin.
async function networkError(url) {
  const storage = new URL(url).origin;
  const here = globalThis.location ? globalThis.location.origin : "this page";
  let reachable = false;
  try {
    await fetch(`${storage}/minio/health/live`, { mode: "no-cors", cache: "no-store" });
    reachable = true;
  } catch {
    reachable = false;
  }
  if (reachable) {
    return new UploadError(
      `Storage at ${storage} refused this page's origin (${here}): this origin is not allowed ` +
      "to upload: add it to CORS_ALLOWED_ORIGINS.",
      { code: "cors_rejected", source: "storage", status: 0,
        hint: `Add ${here} to CORS_ALLOWED_ORIGINS (comma-separated) and run bootstrap again.` });
  }
  return new UploadError(
    `Cannot reach storage at ${storage} from this browser.`,
    { code: "storage_unreachable", source: "storage", status: 0,
      hint: "The upload URL names a host this browser cannot reach: set the signer's " +
        "SIGNER_PUBLIC_ENDPOINT to the storage address browsers use, or check the network." });
}

const STORAGE_ERRORS = {
  SignatureDoesNotMatch: ["Storage rejected the upload signature.",
    "The browser sent a header differently from how it was signed (often Content-Type), " +
    "or the URL was signed for another host name than the one in it."],
  PreconditionFailed: ["An object with this name already exists, and uploads never overwrite.",
    "Upload again to get a new object name."],
  EntityTooLarge: ["The file is larger than the upload was signed for.",
    "Choose the file again: it may have changed since it was picked."],
  IncompleteBody: ["Storage received fewer bytes than the upload was signed for.",
    "Choose the file again: it may have changed since it was picked."],
  NoSuchUpload: ["This multipart upload no longer exists on storage (completed, aborted or expired).",
    "Start the upload again."],
  NoSuchBucket: ["The storage bucket does not exist.", "Run bootstrap to create it."],
  InvalidAccessKeyId: ["Storage does not know the signer's access key.",
    "Check the signer's storage credentials and run bootstrap again."],
  RequestTimeTooSkewed: ["The signer's clock differs too much from storage's.",
    "Sync the clocks (NTP) on the signer and storage hosts."],
};

function storageError(status, body, url) {
  const { code, message } = parseS3Error(body);
  const info = { code: "storage_refused", source: "storage", status, detail: message || body || null };
  if (status >= 500 || code === "SlowDown") {
    return new UploadError(`Storage is busy or failing (HTTP ${status}${code ? `, ${code}` : ""}).`,
      { ...info, code: "storage_busy", hint: "Try again in a moment." });
  }
  if (code === "AccessDenied" && /expired/i.test(message || "")) {
    return new UploadError("The upload link expired before the upload reached storage.",
      { ...info, code: "url_expired", hint: "Start the upload again for a fresh link." });
  }
  if (code === "AccessDenied") {
    return new UploadError("Storage denied the upload (AccessDenied).",
      { ...info, hint: "The signer's storage identity may lack write permission on this bucket: " +
        "run bootstrap again." });
  }
  if (STORAGE_ERRORS[code]) {
    const [text, hint] = STORAGE_ERRORS[code];
    return new UploadError(text, { ...info, hint });
  }
  const where = new URL(url).origin;
  return new UploadError(
    `Storage at ${where} refused the upload (HTTP ${status}${code ? `, ${code}` : ""})` +
    `${message ? `: ${message}` : "."}`, info);
}

function parseS3Error(body) {
  if (!body || typeof DOMParser === "undefined") return {};
  const doc = new DOMParser().parseFromString(body, "application/xml");
  const text = (tag) => {
    const el = doc.getElementsByTagName(tag)[0];
    return el ? el.textContent : undefined;
  };
  return { code: text("Code"), message: text("Message") };
}

class SignerClient {
  constructor(baseUrl, token, signal) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
    this.signal = signal;
  }

  async post(path, body) {
    const url = `${this.baseUrl}${path}`;
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: this.signal,
      });
    } catch (err) {
      if (err && err.name === "AbortError") throw aborted();
      throw new UploadError(`Cannot reach the signer at ${this.baseUrl || "this site"}.`,
        { code: "signer_unreachable", source: "signer", status: 0,
          hint: "Check that the signer is running and that its address is right." });
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (response.ok && answer) return answer;
    if (answer && answer.message) {
      throw new UploadError(answer.message, {
        code: answer.code, hint: answer.hint, status: response.status, source: "signer",
        retryAfterSeconds: answer.retry_after_seconds,
      });
    }
    throw new UploadError(`The signer answered HTTP ${response.status} without an explanation.`,
      { code: "bad_signer_answer", source: "signer", status: response.status,
        hint: "Check the signer's logs, or a proxy in front of it." });
  }
}
