// Applies the saved or preferred colour theme before the first paint.
// Loaded as a classic (blocking) script in <head>; no inline script needed.
(function () {
  var saved = null;
  try { saved = localStorage.getItem('theme'); } catch (e) { /* storage blocked */ }
  var dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  var theme = saved === 'light' || saved === 'dark' ? saved : (dark ? 'dark' : 'light');
  document.documentElement.setAttribute('data-theme', theme);
})();
