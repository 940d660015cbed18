// A form marked data-once cannot be sent twice by a double click (the server refuses
// a second publish anyway; this only spares the officer a confusing second page).
(function () {
  "use strict";
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      // After every listener has run: a "sure?" answered no leaves the form usable.
      setTimeout(function () {
        if (event.defaultPrevented) { return; }
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // A form marked data-confirm="question?" is sent only if the officer confirms.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
