// Loaded between require.js and the widget manager (embed-amd.js) on pages with widgets
// (nb_ipywidgets_js in _config.yml).

// The widget manager loads its icon fonts relative to the URL that require.js gives its
// modules, by default one derived from the module name and the page: point its modules at
// the book's own copy in _static/jupyter-widgets/ (the modules are defined inline by
// embed-amd.js, so nothing is fetched from these paths but the fonts).
const widgetAssets = new URL("jupyter-widgets/", document.currentScript.src).href.replace(/\/$/, "");
window.require.config({
  paths: {
    "@jupyter-widgets/html-manager": `${widgetAssets}/html-manager`,
    "@jupyter-widgets/html-manager/dist": widgetAssets,
  },
});

// ipywidgets typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book loads
// MathJax 3 (deferred, so it is in place by DOMContentLoaded). Translate the one call it makes.
document.addEventListener("DOMContentLoaded", () => {
  const mathjax = window.MathJax;
  if (mathjax === undefined || mathjax.Hub !== undefined || mathjax.startup === undefined) {
    return;
  }
  mathjax.Hub = {
    Queue: (...commands) => {
      const elements = commands.filter((c) => Array.isArray(c) && c[0] === "Typeset").map((c) => c[2]);
      mathjax.startup.promise.then(() => mathjax.typesetPromise(elements));
    },
  };
});
