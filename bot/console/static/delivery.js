// While messages are waiting or being sent, refresh the delivery counts every 2.5 seconds;
// when sending ends, reload once to show failures and their reasons.
(function () {
  "use strict";
  var table = document.getElementById("delivery");
  if (!table || table.dataset.inFlight !== "yes") { return; }
  var state = document.getElementById("delivery-state");

  function poll() {
    fetch(table.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        Object.keys(data.counts).forEach(function (status) {
          var cell = table.querySelector('[data-status="' + status + '"]');
          if (cell) { cell.textContent = data.counts[status]; }
        });
        var total = table.querySelector('[data-status="total"]');
        if (total) { total.textContent = data.total; }
        if (data.in_flight) { setTimeout(poll, 2500); } else { window.location.reload(); }
      })
      .catch(function () {
        state.textContent = "Could not refresh the counts: reload the page to see them.";
      });
  }
  setTimeout(poll, 2500);
})();
