// The book's own script, on top of the theme's.
// The download menu offers the whole book as one PDF (`make pdf` writes it next to index.html).
document.addEventListener("DOMContentLoaded", () => {
  const root = document.documentElement.dataset.content_root
    || (window.DOCUMENTATION_OPTIONS && DOCUMENTATION_OPTIONS.URL_ROOT) || "";
  const menu = document.querySelector(".dropdown-download-buttons ul, .dropdown-download-buttons .dropdown-menu");
  if (!menu) return;
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = root + "optimization-for-deep-learning.pdf";
  link.className = "btn btn-sm dropdown-item coursekit-book-pdf";
  link.title = "The whole book as one PDF";
  link.setAttribute("download", "");
  link.innerHTML = '<span class="btn__icon-container"><i class="fas fa-book"></i></span>'
    + '<span class="btn__text-container">Whole book (.pdf)</span>';
  item.appendChild(link);
  menu.appendChild(item);
});
