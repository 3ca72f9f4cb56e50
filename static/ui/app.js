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
      document.getElementById("id_params").dispatchEvent(new Event("example"));  // the builder shows it
    });
  });

  // Rule builder: pickers from the tenant's catalogue write the params JSON (the advanced view).
  (function () {
    var data = document.getElementById("rule-vocabulary");
    var box = document.getElementById("builder");
    var params = document.getElementById("id_params");
    var kind = document.getElementById("id_kind");
    if (!data || !box || !params || !kind) return;
    var vocab = JSON.parse(data.textContent);
    var $ = function (id) { return document.getElementById(id); };
    var fields = {};
    vocab.fields.forEach(function (f) {
      fields[f.name] = f;
      var option = document.createElement("option");
      option.value = f.name; option.textContent = f.label;
      $("b-field").appendChild(option);
    });
    vocab.items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.id; option.label = item.title; option.textContent = item.title;
      $("b-items").appendChild(option);
    });
    function fill(select, values, labels) {
      var keep = select.value;
      select.innerHTML = "";
      values.forEach(function (v) {
        var option = document.createElement("option");
        option.value = v; option.textContent = (labels && labels[v]) || v;
        select.appendChild(option);
      });
      if (values.indexOf(keep) >= 0) select.value = keep;
    }
    function fieldChanged() {
      var f = fields[$("b-field").value];
      fill($("b-op"), f.ops, vocab.labels);
      var list = $("b-values");
      list.innerHTML = "";
      f.values.forEach(function (v) { var o = document.createElement("option"); o.value = v; list.appendChild(o); });
    }
    function value() {
      var name = $("b-field").value, op = $("b-op").value, raw = $("b-value").value.trim();
      var numeric = name === "price" || name === "age_days" || ["lt", "lte", "gt", "gte", "between"].indexOf(op) >= 0;
      var one = function (text) {
        text = text.trim();
        if (name === "available") return text.toLowerCase() === "true" || text.toLowerCase() === "yes";
        if (numeric && text !== "" && !isNaN(Number(text))) return Number(text);
        return text;
      };
      if (op === "in" || op === "not_in" || op === "between") return raw.split(",").filter(function (t) { return t.trim(); }).map(one);
      return one(raw);
    }
    function write() {
      var k = kind.value, out;
      if (k === "pin") out = { item_id: $("b-item").value.trim(), position: Number($("b-position").value) || 1 };
      else if (k === "diversity") out = { max_per_category: Number($("b-max").value) || 1, top: Number($("b-top").value) || 10 };
      else {
        out = { when: { field: $("b-field").value, op: $("b-op").value, value: value() } };
        if (k !== "filter") out.weight = Number($("b-weight").value) || 0.2;
      }
      params.value = JSON.stringify(out, null, 2);
    }
    function show() {
      var k = kind.value;
      box.querySelector("[data-builder-part=condition]").hidden = ["filter", "boost", "bury"].indexOf(k) < 0;
      box.querySelector("[data-builder-part=weight]").hidden = k === "filter";
      box.querySelector("[data-builder-part=pin]").hidden = k !== "pin";
      box.querySelector("[data-builder-part=diversity]").hidden = k !== "diversity";
    }
    function load() {  // show a saved simple rule in the pickers; anything else stays in the JSON view
      var current;
      try { current = JSON.parse(params.value || "{}") || {}; } catch (e) { return; }
      var when = current.when;
      if (when && fields[when.field]) {
        $("b-field").value = when.field; fieldChanged(); $("b-op").value = when.op;
        $("b-value").value = Array.isArray(when.value) ? when.value.join(", ") : String(when.value);
      } else { fieldChanged(); }
      if (current.weight) $("b-weight").value = current.weight;
      if (current.item_id) { $("b-item").value = current.item_id; $("b-position").value = current.position || 1; }
      if (current.max_per_category) { $("b-max").value = current.max_per_category; $("b-top").value = current.top || 10; }
    }
    box.hidden = false;
    load(); show();
    $("b-field").addEventListener("change", function () { fieldChanged(); write(); });
    box.addEventListener("input", write);
    box.addEventListener("change", write);
    kind.addEventListener("change", function () { show(); write(); });
    params.addEventListener("example", function () { load(); show(); });
  })();

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
      target.setAttribute("aria-busy", "true");
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
        .catch(function () { target.classList.remove("loading"); target.removeAttribute("aria-busy"); });
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
