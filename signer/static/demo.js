// The /demo page: pick files, upload each with upload.js, show progress, then the result.
import { upload } from "./upload.js";

const PARALLEL_FILES = 2;
const STAGE_WORDS = {
  presign: "Asking the signer",
  upload: "Uploading to storage",
  complete: "Finishing",
  done: "Done",
};

const config = readConfig();
const form = document.getElementById("picker");
const input = document.getElementById("files");
const drop = document.getElementById("drop");
const start = document.getElementById("start");
const profileSelect = document.getElementById("profile");
const multipartSelect = document.getElementById("multipart");
const list = document.getElementById("uploads");
const summary = document.getElementById("summary");
const rowTemplate = document.getElementById("upload-row");
let chosen = [];

function readConfig() {
  const meta = document.querySelector('meta[name="signer-demo-config"]');
  try {
    return JSON.parse(meta.content);
  } catch {
    return null;
  }
}

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function setup() {
  if (!config || !config.token) {
    summary.textContent = "This page was not served by the signer's /demo route, so it has no " +
      "token. Start the signer with SIGNER_DEMO=true and open /demo.";
    summary.dataset.state = "error";
    return;
  }
  for (const name of config.profiles || []) {
    const option = new Option(name, name, name === config.default_profile,
      name === config.default_profile);
    profileSelect.append(option);
  }
  if (!profileSelect.options.length) profileSelect.append(new Option("default", ""));

  input.addEventListener("change", () => choose([...input.files]));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    choose([...e.dataTransfer.files]);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
}

function choose(files) {
  chosen = files;
  start.disabled = !files.length;
  summary.dataset.state = "";
  const total = files.reduce((sum, f) => sum + f.size, 0);
  summary.textContent = files.length
    ? `${files.length} file${files.length > 1 ? "s" : ""} chosen (${formatBytes(total)}).`
    : "";
}

async function run() {
  const files = chosen;
  chosen = [];
  start.disabled = true;
  input.value = "";
  const jobs = files.map((file) => ({ file, row: addRow(file) }));
  summary.textContent = `Uploading ${jobs.length} file${jobs.length > 1 ? "s" : ""}…`;
  summary.dataset.state = "busy";
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await uploadOne(jobs[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, jobs.length) }, worker));
  const failed = jobs.filter((j) => j.row.dataset.state === "error").length;
  summary.textContent = failed
    ? `${failed} of ${jobs.length} upload${jobs.length > 1 ? "s" : ""} failed; see below.`
    : `All ${jobs.length} upload${jobs.length > 1 ? "s" : ""} finished.`;
  summary.dataset.state = failed ? "error" : "done";
}

function addRow(file) {
  const row = rowTemplate.content.firstElementChild.cloneNode(true);
  row.querySelector(".name").textContent = file.name;
  row.querySelector(".size").textContent = formatBytes(file.size);
  list.append(row);
  return row;
}

async function uploadOne({ file, row }) {
  const bar = row.querySelector(".bar");
  const status = row.querySelector(".status");
  const percent = row.querySelector(".percent");
  row.dataset.state = "uploading";
  let strategy = "";
  try {
    const result = await upload(file, {
      signerUrl: config.signer_url || "",
      token: config.token,
      profile: profileSelect.value || undefined,
      multipart: multipartSelect.value,
      onProgress: ({ stage, loaded, total, strategy: how, parts: count }) => {
        const fraction = total ? loaded / total : 1;
        bar.value = fraction;
        percent.textContent = `${Math.floor(fraction * 100)}%`;
        strategy = how === "multipart" ? `${count} parts in parallel` : "single PUT";
        const detail = how && stage === "upload" ? ` (${strategy})` : "";
        status.textContent = `${STAGE_WORDS[stage] || stage}${detail}`;
      },
    });
    showResult(row, file, result, strategy);
  } catch (err) {
    showError(row, err);
  }
}

function showResult(row, file, result, strategy) {
  row.dataset.state = "done";
  row.dataset.objectKey = result.object_key;
  row.querySelector(".bar").value = 1;
  row.querySelector(".percent").textContent = "100%";
  row.querySelector(".status").textContent =
    `Stored as ${result.object_key}${strategy ? ` · ${strategy}` : ""}`;
  const box = row.querySelector(".result");
  const link = row.querySelector(".link");
  link.href = result.get_url;
  link.textContent = "Open the download link";
  box.hidden = false;
  const type = result.content_type || file.type || "";
  if (type.startsWith("image/")) {
    const img = row.querySelector(".preview");
    img.alt = `Preview of ${file.name}`;
    img.addEventListener("load", () => { row.dataset.preview = "loaded"; }, { once: true });
    img.addEventListener("error", () => {
      row.dataset.preview = "failed";
      img.hidden = true;
    }, { once: true });
    img.src = result.get_url;
    img.hidden = false;
  }
}

function showError(row, err) {
  row.dataset.state = "error";
  row.dataset.errorCode = err.code || "error";
  row.querySelector(".status").textContent = "Failed";
  const message = row.querySelector(".error");
  const refused = err.source === "signer" && err.status >= 400;
  message.textContent = `${refused ? "The signer refused this file: " : ""}${err.message || err}`;
  message.hidden = false;
  if (err.hint) {
    const hint = row.querySelector(".hint");
    hint.textContent = err.hint;
    hint.hidden = false;
  }
}

setup();
