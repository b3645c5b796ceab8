/* AloNet: behaviour shared by every page (no inline scripts: the CSP forbids them). */
(function () {
  "use strict";
  // Forms that delete something ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  // A new patient code that looks like a name or a date of birth (checks.identifying_code_reason:
  // a date, or two capitalised words, one with lower case) is refused by the server unless
  // "this code is pseudonymous" is ticked: show that tick, as a warning, only then.
  document.querySelectorAll("[data-code-confirm]").forEach(function (box) {
    var form = box.closest("form");
    var input = form && form.querySelector('input[name="' + box.dataset.codeConfirm + '"]');
    var tick = box.querySelector('input[type="checkbox"]');
    if (!input || !tick) { return; }
    var date = new RegExp(box.dataset.datePattern);
    var studyWords = (box.dataset.studyWords || "").split(" ");
    var why = box.querySelector(".code-confirm-why");
    var status = box.nextElementSibling;  // the polite live region after the box (_code_confirm.html)
    if (status && !status.hasAttribute("data-code-confirm-status")) { status = null; }
    var update = function () {
      var wasHidden = box.hidden;
      var code = input.value.trim();
      var words = code.split(/[ ._-]+/).filter(function (w) {
        return /^[A-Z][A-Za-z]+$/.test(w) && studyWords.indexOf(w.toLowerCase()) < 0;
      });
      var isDate = date.test(code);
      var isName = words.length >= 2 && words.some(function (w) { return /[a-z]/.test(w); });
      box.hidden = !(isDate || isName);
      box.classList.toggle("warning", isDate || isName);
      if (why) {
        why.textContent = (isDate ? "This code holds a date (a date of birth?)" : "This code looks like a name") +
          ": use a pseudonymous study code such as AA-017, or, if it is one, tick";
      }
      if (box.hidden) { tick.checked = false; }
      // say it once when the tick appears (not at every key press), and clear it when it goes
      if (status && box.hidden !== wasHidden) {
        status.textContent = box.hidden ? "" : (why ? why.textContent : "") + " \"this code is pseudonymous\".";
      }
    };
    update();
    if (status) { status.textContent = ""; }  // nothing to say when the page opens
    input.addEventListener("input", update);
  });
})();
