// Progressive enhancement only: the page works the same without this file.
(function () {
  "use strict";
  // Group card digits in fours as the buyer types.
  document.querySelectorAll("[data-card-number]").forEach(function (input) {
    input.addEventListener("input", function () {
      var digits = input.value.replace(/\D/g, "").slice(0, 19);
      input.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
    });
  });
  // A second click on Pay while the first is on its way does nothing (the server also refuses it).
  document.querySelectorAll("[data-pay-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.submitted) { event.preventDefault(); return; }
      form.dataset.submitted = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
        button.textContent = "Processing…";
      });
    });
  });
})();
