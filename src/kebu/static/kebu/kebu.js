// Small behaviours without a build step: formset rows, select-all, one submit per click.
(function () {
  "use strict";

  // "Add another" for Django formsets: clone the hidden empty form and bump TOTAL_FORMS.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-formset-add]");
    if (!button) return;
    var prefix = button.getAttribute("data-formset-add");
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    var template = document.getElementById(prefix + "-empty");
    var max = parseInt(document.getElementById("id_" + prefix + "-MAX_NUM_FORMS").value, 10);
    var count = parseInt(total.value, 10);
    if (count >= max) return;
    var html = template.innerHTML.replace(/__prefix__/g, String(count));
    document.getElementById(prefix + "-rows").insertAdjacentHTML("beforeend", html);
    total.value = String(count + 1);
    if (window.htmx) window.htmx.process(document.getElementById(prefix + "-rows"));
  });

  // Select all rows of the customer table.
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-select-all]")) return;
    document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = event.target.checked; });
  });

  // A double click must not send a form twice (the server also refuses a repeated key).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted === "1") { event.preventDefault(); return; }
    if (form.method.toLowerCase() === "post") form.dataset.submitted = "1";
  });
})();
