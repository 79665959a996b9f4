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

  // Back from a page that refused the form (Kebu busy, an error): the browser shows the form as it was
  // left, guard included, and it must be possible to send it again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-submitted]").forEach(function (form) { delete form.dataset.submitted; });
  });

  // htmx leaves the page as it is when an action is refused (a record gone, a role changed, Kebu busy):
  // say so above the page, in the words of Kebu's error page the answer carries, in the user's language.
  document.addEventListener("htmx:responseError", function (event) {
    var answer = new DOMParser().parseFromString(event.detail.xhr.responseText || "", "text/html");
    var page = answer.getElementById("error-page");
    var main = document.querySelector("main");
    if (!page || !main) return;
    var previous = document.getElementById("action-refused");
    if (previous) previous.remove();
    var box = document.createElement("div");
    box.id = "action-refused";
    box.className = "alert alert-warning";
    box.setAttribute("role", "alert");
    box.dataset.status = page.dataset.status || "";
    var heading = document.createElement("strong");
    heading.textContent = page.querySelector("h1").textContent.trim();
    box.appendChild(heading);
    var first = page.querySelector("p");
    if (first) box.appendChild(document.createTextNode(" " + first.textContent.trim()));
    main.prepend(box);
    box.scrollIntoView({ block: "nearest" });
  });

  // The error pages' "Go back" (a javascript: link would need an inline script, which the CSP refuses).
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-history-back]")) window.history.back();
  });
})();

// Province → city → district pickers: each change reloads the options of the level below.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var select = event.target;
    var level = select.getAttribute("data-division");
    if (level !== "province" && level !== "city") return;
    var row = select.closest(".address-row");
    var province = row.querySelector("[data-division=province]");
    var city = row.querySelector("[data-division=city]");
    var district = row.querySelector("[data-division=district]");
    var params = new URLSearchParams({ province: province.value });
    var target = city;
    if (level === "city") {
      params.set("city", city.value);
      params.set("level", "district");
      target = district;
    } else {
      district.innerHTML = '<option value="">—</option>';
    }
    fetch(province.getAttribute("data-division-url") + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) { target.innerHTML = html; });
  });
})();

// Behaviours named by data attributes, so templates carry no inline script (CSP-ready).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-submit-on-change]")) event.target.form.submit();
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-apply-columns]")) return;
    var form = document.getElementById("filters");
    var chosen = Array.prototype.map.call(document.querySelectorAll(".column-choice:checked"), function (box) {
      return box.value;
    });
    form.elements.cols.value = chosen.join(",");
    form.requestSubmit();
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("data-query-from-location")) {
      // The list is filtered in place by htmx, which keeps the address bar current: save what is shown.
      form.elements.query.value = window.location.search.slice(1);
    }
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();

// Two-step verification pages: copy the set-up key or the recovery codes, print them, save them as a file.
(function () {
  "use strict";
  function flash(button, attribute) {
    var done = button.getAttribute(attribute);
    if (!done) return;
    var original = button.innerHTML;
    button.textContent = done;
    window.setTimeout(function () { button.innerHTML = original; }, 2000);
  }
  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.getAttribute("data-copy-text") || source.textContent.trim())
          .then(function () { flash(copy, "data-copied-label"); });
      }
      return;
    }
    if (event.target.closest("[data-print]")) {
      window.print();
      return;
    }
    var download = event.target.closest("[data-download-text]");
    if (download) {
      var blob = new Blob([download.getAttribute("data-download-text")], { type: "text/plain;charset=utf-8" });
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = download.getAttribute("data-download-name") || "kebu.txt";
      document.body.appendChild(link);
      link.click();
      window.setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
    }
  });
})();
