(function () {
  "use strict";
  var controls = document.getElementById("controls");
  if (!controls) { return; }
  controls.hidden = false;
  var findings = Array.prototype.slice.call(document.querySelectorAll("article.finding"));
  var groups = Array.prototype.slice.call(document.querySelectorAll("section.group"));
  var text = document.getElementById("filter-text");
  var rule = document.getElementById("filter-rule");
  var sort = document.getElementById("sort");
  var shown = document.getElementById("shown");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter-severity]"));
  function apply() {
    var wanted = {};
    boxes.forEach(function (b) { wanted[b.getAttribute("data-filter-severity")] = b.checked; });
    var needle = text.value.trim().toLowerCase();
    var r = rule.value;
    var count = 0;
    findings.forEach(function (f) {
      var ok = wanted[f.getAttribute("data-severity")] === true &&
        (r === "" || f.getAttribute("data-rule") === r) &&
        (needle === "" || f.textContent.toLowerCase().indexOf(needle) !== -1);
      f.hidden = !ok;
      if (ok) { count += 1; }
    });
    groups.forEach(function (g) {
      g.hidden = g.querySelector("article.finding:not([hidden])") === null;
    });
    shown.textContent = String(count);
  }
  function order() {
    var key = sort.value;
    groups.forEach(function (g) {
      var list = g.querySelector(".findings");
      var items = Array.prototype.slice.call(list.children);
      items.sort(function (a, b) {
        var x = a.getAttribute("data-" + key) || "";
        var y = b.getAttribute("data-" + key) || "";
        if (x !== y) { return x < y ? -1 : 1; }
        return Number(a.getAttribute("data-index")) - Number(b.getAttribute("data-index"));
      });
      items.forEach(function (i) { list.appendChild(i); });
    });
  }
  // Printing gives the whole review document: every evidence block open.
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
  boxes.forEach(function (b) { b.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  rule.addEventListener("change", apply);
  sort.addEventListener("change", order);
  apply();
}());
