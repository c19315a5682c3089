// Clicking a statement lights its quotes in the article and scrolls to the first; hovering a
// highlight lights the statements that cite it. The pages work without this script.
(function () {
  "use strict";
  function words(el, name) { return (el.getAttribute(name) || "").split(" ").filter(Boolean); }
  function scope(el) { return el.closest("[data-article]") || document; }
  function light(root, attr, id) {
    root.querySelectorAll("mark.cite.active, li.statement.active").forEach(function (m) {
      m.classList.remove("active");
    });
    var marks = Array.prototype.filter.call(root.querySelectorAll("mark.cite"), function (m) {
      return words(m, attr).indexOf(id) >= 0;
    });
    marks.forEach(function (m) { m.classList.add("active"); });
    if (marks.length) { marks[0].scrollIntoView({ block: "center" }); }
    return marks;
  }
  document.addEventListener("click", function (event) {
    var quote = event.target.closest("a.quote");
    if (quote) {
      event.preventDefault();
      light(scope(quote), "data-q", quote.getAttribute("data-q"));
      return;
    }
    var statement = event.target.closest("li.statement");
    if (statement) {
      light(scope(statement), "data-s", statement.getAttribute("data-s"));
      statement.classList.add("active");
    }
  });
  document.addEventListener("mouseover", function (event) {
    var mark = event.target.closest && event.target.closest("mark.cite");
    if (!mark) { return; }
    var root = scope(mark);
    var cited = words(mark, "data-s");
    root.querySelectorAll("li.statement").forEach(function (li) {
      li.classList.toggle("active", cited.indexOf(li.getAttribute("data-s")) >= 0);
    });
  });
  // A highlight asked for in the address (?hl=start:end from an answer) is lit on arrival.
  var asked = document.querySelector("mark.cite[data-q~='hl-0']");
  if (asked) { light(document, "data-q", "hl-0"); }
  // A job in the background: its progress, then the page again with the result.
  var job = document.querySelector("[data-job]");
  if (job) {
    var poll = function () {
      fetch("/jobs/" + job.getAttribute("data-job"), { headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (state) {
          job.textContent = state.message;
          if (state.state === "running" || state.state === "queued") { setTimeout(poll, 1000); } else { location.reload(); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1000);
  }
})();
