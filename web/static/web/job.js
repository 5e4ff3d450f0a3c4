// Live progress for a job page: poll the job's API until it ends, then
// reload so the server renders the results. Honours Retry-After and backs
// off on errors.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var url = root.dataset.statusUrl;
  var interval = Number(root.dataset.pollInterval) || 1;
  var bar = document.getElementById("job-progress");
  var text = document.getElementById("job-progress-text");
  var statusEl = document.getElementById("job-status");
  var failures = 0;
  var FINAL = ["succeeded", "failed", "canceled"];

  function show(job) {
    var p = job.progress;
    if (p.total !== null) bar.max = Math.max(p.total, 1);
    bar.value = p.done;
    text.textContent = p.done + " of " + (p.total === null ? "?" : p.total) + " texts · " + p.percent + "%";
    statusEl.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
    statusEl.className = "status status-" + job.status;
  }

  function schedule(seconds) {
    window.setTimeout(poll, Math.max(seconds, 0.25) * 1000);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        var retry = Number(response.headers.get("Retry-After"));
        return response.json().then(function (job) { return { job: job, retry: retry }; });
      })
      .then(function (r) {
        failures = 0;
        show(r.job);
        if (FINAL.indexOf(r.job.status) !== -1) {
          window.location.reload();
          return;
        }
        schedule(r.retry > 0 ? r.retry : interval);
      })
      .catch(function () {
        failures += 1;
        schedule(Math.min(interval * Math.pow(2, failures), 30));
      });
  }

  schedule(interval / 2);
})();
