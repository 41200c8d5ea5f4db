"""Benchmarks: the signer and the data path, side by side with their baselines in one run.

Run ``make bench`` (about 5 minutes) or ``make bench BENCH_ARGS=--quick`` (about 30 s);
``.venv/bin/python -m bench --help`` lists the options. Everything runs on this machine over
loopback: a real MinIO (``.cache/bin/minio``) on free 127.0.0.1 ports in a temp dir, the
signer as a real ``minio-stack signer serve`` subprocess, and the baselines in the same run,
so machine noise hits every contender alike.

What is measured (``bench/results.json`` keeps every figure as median and spread over rounds):

1. signing — presigned single-PUT URLs per second: ``signer.core.sigv4.presign_url`` with the
   headers the signer signs (Content-Type, Content-Length, If-None-Match) and host-only, against
   minio-py's ``presigned_put_object`` in the same process (same keys, region set: no network
   call), and one bare HMAC-SHA256 with a cached signing key (the floor). Rounds interleave the
   contenders.
2. http — ``POST /v1/uploads/presign`` (single PUT, small size) at concurrency 1, 16, 64, its
   floor (``GET /healthz`` on the same server) and its peer (Uppy Companion's ``/s3/params``,
   ``bench/peer/``, installed with npm on first use) in the same rounds, for 1 and 2 workers,
   with a load generator (wrk when installed, else a lean asyncio client; the table says
   which): requests/s, latency percentiles and the slowest request, CPU per request, peak RSS,
   and the generator's own CPU: on 2 cores the generator competes with the server.
3. datapath — one object uploaded through the signer's multipart URLs (``signer.client``'s
   uploader, 4 parallel parts) vs minio-py ``fput_object`` with credentials (same part size and
   parallelism) vs a pass-through proxy (``bench.proxy``: the design the kit replaced), at two
   sizes, with the CPU seconds and I/O bytes the signer and the proxy processes spent.
4. bootstrap — ``minio-stack bootstrap --json`` on a fresh server, then no-op re-runs.

The table marks each target met or missed. A missed target is profiled (pyinstrument) and the
profile saved under ``bench/profiles/``. Sanity checks (zero HTTP errors, uploaded bytes equal
to the file's, a no-op bootstrap that changes nothing) make the run exit non-zero when they
fail; timing alone never does.
"""
