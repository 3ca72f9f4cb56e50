// Progressive enhancement for the tenant admin UI. Every page works without this file.
(function () {
  "use strict";

  // Phone-width navigation toggle.
  document.querySelectorAll(".nav-toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var bar = button.closest(".topbar");
      bar.classList.toggle("open");
      button.setAttribute("aria-expanded", bar.classList.contains("open"));
    });
  });

  // Ask before destructive POSTs: <form data-confirm="Revoke this key?">.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Copy buttons: <button data-copy="#element-id">.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = document.querySelector(button.dataset.copy).textContent.trim();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
      } else {  // plain-http hosts: select the text and use the legacy command
        var range = document.createRange();
        range.selectNodeContents(document.querySelector(button.dataset.copy));
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (document.execCommand("copy")) done();
      }
    });
  });

  // Rule form: fill params with the example of a kind.
  document.querySelectorAll("[data-example]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      document.getElementById("id_params").value = JSON.stringify(JSON.parse(button.dataset.example), null, 2);
      document.getElementById("id_kind").value = button.dataset.kind;
    });
  });

  // Rule form: preview the draft in place (the same POST renders the whole page without JS).
  document.querySelectorAll("button[name=preview]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var form = button.form;
      var target = document.getElementById("preview");
      if (!window.fetch || !window.DOMParser || !target) return;
      event.preventDefault();
      var data = new FormData(form);
      data.append("preview", "1");
      target.classList.add("loading");
      fetch(form.action || window.location.href, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.getElementById("preview");
          if (fresh) target.replaceWith(fresh);
          ["id_params", "id_name", "id_kind"].forEach(function (id) {  // show the rule form's errors too
            var errors = page.querySelector("[data-errors-for=" + id + "]");
            var mine = document.querySelector("[data-errors-for=" + id + "]");
            if (errors && mine) mine.innerHTML = errors.innerHTML;
          });
        })
        .catch(function () { target.classList.remove("loading"); });
    });
  });

  // Training progress: poll the run's status once a second until it finishes.
  document.querySelectorAll("[data-status-url]").forEach(function (box) {
    var bar = box.querySelector(".progress");
    var label = box.querySelector("[data-label]");
    var error = box.querySelector("[data-error]");
    function tick() {
      fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (run) {
          bar.querySelector(".bar").style.width = run.progress + "%";
          bar.setAttribute("aria-valuenow", run.progress);
          label.textContent = run.line;
          box.dataset.state = run.status;
          document.querySelectorAll("[data-run-status='" + run.number + "']").forEach(function (badge) {
            badge.textContent = run.status;
            badge.className = "badge " + run.status;
          });
          document.querySelectorAll("[data-run-outcome='" + run.number + "']").forEach(function (cell) {
            cell.textContent = run.finished ? run.outcome : run.line;
          });
          if (!run.finished) { window.setTimeout(tick, 1000); return; }
          bar.classList.add(run.status === "succeeded" ? "done" : "failed");
          var outcome = box.querySelector("[data-outcome]");
          if (outcome && run.outcome) { outcome.textContent = run.outcome; outcome.hidden = false; }
          else if (run.error) { error.textContent = run.error; error.hidden = false; }
          box.querySelector("[data-finished]").hidden = false;
          box.querySelectorAll("[data-while-running]").forEach(function (el) { el.hidden = true; });
          document.querySelectorAll("[data-train-button]").forEach(function (button) { button.disabled = false; });
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    }
    tick();
  });
})();
