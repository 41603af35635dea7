// A small resumable uploader for the tus 1.0.0 protocol (creation, PATCH with Upload-Offset,
// HEAD to learn the offset after a dropped connection). An upload's URL is remembered in
// localStorage, so the same file picked again after a reload continues where it stopped.
import { csrfToken } from "./api.js";

const TUS = "1.0.0";
const DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];

function b64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An error the server meant (a 4xx that retrying cannot fix), with its problem details. */
export class UploadRefused extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

function xhr(method, url, { headers = {}, body = null, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const req = new XMLHttpRequest();
    req.open(method, url, true);
    req.withCredentials = true;
    req.setRequestHeader("Tus-Resumable", TUS);
    if (method !== "HEAD") req.setRequestHeader("X-CSRF-Token", csrfToken());
    for (const [k, v] of Object.entries(headers)) req.setRequestHeader(k, v);
    if (onProgress && req.upload) req.upload.onprogress = (e) => onProgress(e.loaded);
    req.onload = () => resolve(req);
    req.onerror = () => reject(new Error("network"));
    req.ontimeout = () => reject(new Error("timeout"));
    req.onabort = () => reject(new Error("aborted"));
    req.send(body);
  });
}

function problemOf(req) {
  try {
    return JSON.parse(req.responseText || "{}");
  } catch {
    return { detail: `HTTP ${req.status}` };
  }
}

export class TusUpload {
  /**
   * @param {File} file
   * @param {{endpoint: string, metadata?: object, chunkSize?: number,
   *          onProgress?: (sent: number, total: number) => void,
   *          onState?: (state: string) => void}} options
   */
  constructor(file, options) {
    this.file = file;
    this.endpoint = options.endpoint;
    this.metadata = options.metadata || {};
    this.chunkSize = options.chunkSize || 5 * 1024 * 1024;
    this.onProgress = options.onProgress || (() => {});
    this.onState = options.onState || (() => {});
    this.url = null;
    this.offset = 0;
    this.paused = false;
    this._wake = null;
    this._req = null;
  }

  get fingerprint() {
    const f = this.file;
    return `loa-tus:${f.name}:${f.size}:${f.lastModified}:${f.type}`;
  }

  pause() {
    this.paused = true;
    this.onState("paused");
  }

  resume() {
    this.paused = false;
    if (this._wake) this._wake();
  }

  async _create() {
    const meta = Object.entries({ filename: this.file.name, filetype: this.file.type, ...this.metadata })
      .filter(([, v]) => v)
      .map(([k, v]) => `${k} ${b64(String(v))}`)
      .join(",");
    const req = await xhr("POST", this.endpoint, {
      headers: { "Upload-Length": String(this.file.size), "Upload-Metadata": meta },
    });
    if (req.status !== 201) throw new UploadRefused(req.status, problemOf(req));
    const location = req.getResponseHeader("Location");
    this.url = new URL(location, window.location.href).toString();
    this.offset = Number(req.getResponseHeader("Upload-Offset") || 0);
    try {
      localStorage.setItem(this.fingerprint, this.url);
    } catch {
      /* private mode: resuming within the page still works */
    }
  }

  /** The server's offset of an upload; null when it is gone (expired, terminated, unknown). */
  async _head() {
    const req = await xhr("HEAD", this.url);
    if (req.status === 404 || req.status === 410) return null;
    if (req.status !== 200) throw new Error(`HEAD ${req.status}`);
    return Number(req.getResponseHeader("Upload-Offset"));
  }

  async _patch() {
    const end = Math.min(this.offset + this.chunkSize, this.file.size);
    const start = this.offset;
    const req = await xhr("PATCH", this.url, {
      headers: { "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" },
      body: this.file.slice(start, end),
      onProgress: (loaded) => this.onProgress(start + loaded, this.file.size),
    });
    if (req.status === 204) {
      this.offset = Number(req.getResponseHeader("Upload-Offset"));
      this.onProgress(this.offset, this.file.size);
      return;
    }
    if (req.status === 409 || req.status === 423 || req.status >= 500 || req.status === 0) {
      throw new Error(`PATCH ${req.status}`); // learn the offset again and retry
    }
    throw new UploadRefused(req.status, problemOf(req));
  }

  /** Upload the whole file; resolves to the upload's URL. Network failures are retried. */
  async start() {
    let remembered = null;
    try {
      remembered = localStorage.getItem(this.fingerprint);
    } catch {
      remembered = null;
    }
    if (remembered) {
      this.url = remembered;
      const offset = await this._head().catch(() => null);
      if (offset === null) this.url = null;
      else this.offset = offset;
    }
    if (!this.url) await this._create();
    this.onState("uploading");
    this.onProgress(this.offset, this.file.size);
    let attempt = 0;
    while (this.offset < this.file.size) {
      if (this.paused) {
        await new Promise((resolve) => (this._wake = resolve));
        this._wake = null;
        this.onState("uploading");
      }
      try {
        await this._patch();
        attempt = 0;
      } catch (err) {
        if (err instanceof UploadRefused) throw err;
        this.onState("resuming");
        await sleep(DELAYS_MS[Math.min(attempt, DELAYS_MS.length - 1)]);
        attempt += 1;
        const offset = await this._head().catch(() => undefined);
        if (offset === null) throw new UploadRefused(410, { detail: "upload expired" });
        if (offset !== undefined) this.offset = offset;
        this.onState("uploading");
      }
    }
    try {
      localStorage.removeItem(this.fingerprint);
    } catch {
      /* nothing to forget */
    }
    this.onState("done");
    return this.url;
  }
}
