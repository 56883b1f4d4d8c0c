// Update the progress of unfinished deposits on the deposits dashboard.
//
// Each row of an unfinished deposit names its JSON status in data-status-url.
// Every few seconds the script reads those statuses and updates the row's
// state and progress bar. When a deposit has finished, the page reloads, so the
// server renders its error, warnings, description and Retry button. Without
// this script the page reloads itself every 10 seconds instead.
"use strict";

(function () {
  const INTERVAL_MS = 3000;
  const FINISHED = new Set(["completed", "failed"]);
  const LABELS = {
    collecting: "Collecting",
    queued: "Queued",
    processing: "Processing",
    completed: "Completed",
    failed: "Failed",
  };

  function updateProgress(row, progress) {
    const cell = row.querySelector(".progress-cell");
    const text = cell.querySelector("[data-field=progress]");
    let bar = cell.querySelector("progress");
    if (!bar) {
      bar = document.createElement("progress");
      cell.prepend(bar);
    }
    if (progress.total) {
      bar.max = progress.total;
      bar.value = progress.done;
      bar.textContent = text.textContent = `${progress.done} of ${progress.total}`;
    }
  }

  function updateState(row, state) {
    const label = row.querySelector("[data-field=state]");
    label.textContent = LABELS[state] || state;
    label.className = `state state-${state}`;
    row.dataset.state = state;
  }

  async function refreshRow(row) {
    const response = await fetch(row.dataset.statusUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) {
      return false;
    }
    const status = await response.json();
    updateState(row, status.state);
    updateProgress(row, status.progress);
    return FINISHED.has(status.state);
  }

  async function refresh() {
    const rows = document.querySelectorAll("tr[data-status-url]");
    if (rows.length === 0) {
      return;
    }
    if (!document.hidden) {
      let finished = false;
      for (const row of rows) {
        try {
          finished = (await refreshRow(row)) || finished;
        } catch (error) {
          // A failed request leaves the row as it was until the next round.
          console.warn("Deposit status not updated:", error);
        }
      }
      if (finished) {
        window.location.reload();
        return;
      }
    }
    window.setTimeout(refresh, INTERVAL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    window.setTimeout(refresh, INTERVAL_MS);
  });
})();
