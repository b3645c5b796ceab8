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
})();
