// Live progress for a job page: poll the job's API until it ends, then
// reload so the server renders the results. Honours Retry-After (with a
// little jitter) and backs off on errors. Shows done/total, percent, rate, time left and elapsed,
// and every few seconds, while results arrive, swaps in the server's newer summary and rows.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var url = root.dataset.statusUrl;
  var interval = Number(root.dataset.pollInterval) || 1;
  var bar = document.getElementById("job-progress");
  var text = document.getElementById("job-progress-text");
  var statusEl = document.getElementById("job-status");
  var rateEl = document.getElementById("job-rate");
  var remainingEl = document.getElementById("job-remaining");
  var elapsedEl = document.getElementById("job-elapsed");
  var waitingEl = document.getElementById("job-waiting");
  var failures = 0;
  var FINAL = ["succeeded", "failed", "canceled"];
  // The server's clock minus ours, so elapsed time does not depend on this machine's clock.
  var skew = Number(root.dataset.serverNow) * 1000 - Date.now() || 0;
  var startedAt = root.dataset.startedAt ? Number(root.dataset.startedAt) * 1000 : null;
  var number = new Intl.NumberFormat(document.documentElement.lang || "en", { maximumFractionDigits: 0 });
  // The summary and rows so far: fetched again at most this often (the server
  // reuses a running job's summary for 5 s), and never while the reader is using them.
  var LIVE_EVERY_MS = 5000;
  var live = document.getElementById("live");
  var liveDone = null;
  var liveAt = 0;
  var liveBusy = false;

  function refreshLive(done) {
    if (!live || liveBusy || done === liveDone || Date.now() - liveAt < LIVE_EVERY_MS) return;
    if (live.contains(document.activeElement)) return;
    liveBusy = true;
    liveAt = Date.now();
    fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh && !live.contains(document.activeElement)) {
          live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
          liveDone = done;
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { liveBusy = false; });
  }

  function parseTime(iso) {
    // Date.parse wants at most milliseconds; the API gives microseconds.
    return iso ? Date.parse(iso.replace(/(\.\d{3})\d+/, "$1")) : null;
  }

  function duration(seconds) {
    if (seconds < 1) return t("under_1s");
    var total = Math.round(seconds);
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    if (h) return t("h_min", { h: h, min: m });
    if (m) return t("min_s", { min: m, s: s });
    return t("s", { s: s });
  }

  function elapsedSeconds() {
    return startedAt === null ? null : Math.max((Date.now() + skew - startedAt) / 1000, 0);
  }

  function tick() {
    var elapsed = elapsedSeconds();
    if (elapsed !== null) elapsedEl.textContent = duration(elapsed);
  }

  function show(job) {
    var p = job.progress;
    if (p.total !== null) bar.max = Math.max(p.total, 1);
    bar.value = p.done;
    var percent = Number(p.percent).toFixed(1) + "%";
    bar.textContent = percent;
    text.textContent = t("progress", { done: number.format(p.done), total: p.total === null ? "?" : number.format(p.total) }) +
      " · " + percent;
    statusEl.textContent = t("status_" + job.status);
    statusEl.className = "status status-" + job.status;
    if (job.started_at) {
      startedAt = parseTime(job.started_at);
      waitingEl.textContent = "";
    }
    tick();
    var elapsed = elapsedSeconds();
    if (elapsed && p.done) {
      var rate = p.done / elapsed;
      rateEl.textContent = t("rate", { rate: rate >= 10 ? number.format(rate) : rate.toFixed(1) });
      if (p.total !== null) {
        var left = Math.max(p.total - p.done, 0) / rate;
        remainingEl.textContent = left < 1 ? t("under_1s") : t("about", { duration: duration(left) });
      }
    }
  }

  // Each wait is spread +-20 % around what the server asked: browsers a hiccup
  // delayed together would otherwise keep polling together, second after second,
  // and queue behind each other (tests/benchmarks/bench_load.py: p99 poll
  // 131-282 ms in lockstep, ~60 ms spread).
  var JITTER = 0.2;
  function schedule(seconds) {
    var spread = 1 + JITTER * (2 * Math.random() - 1);
    window.setTimeout(poll, Math.max(seconds, 0.25) * spread * 1000);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        var retry = Number(response.headers.get("Retry-After"));
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.retry = retry;
          throw error;
        }
        return response.json().then(function (job) { return { job: job, retry: retry }; });
      })
      .then(function (r) {
        failures = 0;
        show(r.job);
        if (FINAL.indexOf(r.job.status) !== -1) {
          window.clearInterval(ticker);
          window.location.reload();
          return;
        }
        if (r.job.status === "running" && r.job.progress.done > 0) refreshLive(r.job.progress.done);
        schedule(r.retry > 0 ? r.retry : interval);
      })
      .catch(function (error) {
        // Back off: 2, 4, 8 ... up to 30 intervals, or longer if the server asks (429, 503).
        failures += 1;
        var wait = Math.min(interval * Math.pow(2, failures), 30);
        schedule(error.retry > 0 ? Math.max(wait, error.retry) : wait);
      });
  }

  var ticker = window.setInterval(tick, 1000);
  schedule(interval / 2);
})();
