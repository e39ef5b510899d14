// The console's only script (served from /staff/static, allowed by the CSP's script-src 'self'):
// confirmation prompts and the print button, instead of inline handlers the CSP forbids.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  var el = event.target;
  if (el && el.closest && el.closest("[data-print]")) {
    window.print();
  }
});
