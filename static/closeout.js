// The staff pages' few behaviours, from a file: the Content-Security-Policy allows no inline script.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const button of document.querySelectorAll("button[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
