// Optional: a print button for browsers with JavaScript; Ctrl+P works everywhere.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("print-button");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});
