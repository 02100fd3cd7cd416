// The test filter: the page is complete without it (the filter bar stays hidden), so a
// viewer that blocks scripts still shows every result.
(function () {
  var bar = document.getElementById('filters');
  if (!bar) return;
  bar.hidden = false;
  var q = document.getElementById('filter-text');
  var count = document.getElementById('filter-count');
  var boxes = bar.querySelectorAll('input[type=checkbox]');
  var rows = document.querySelectorAll('tr[data-outcome]');
  function apply() {
    var text = q.value.toLowerCase(), show = {}, shown = 0;
    boxes.forEach(function (b) { show[b.value] = b.checked; });
    rows.forEach(function (tr) {
      var o = tr.getAttribute('data-outcome');
      tr.hidden = show[o] === false ||
        (text !== '' && tr.textContent.toLowerCase().indexOf(text) < 0);
      if (!tr.hidden) shown += 1;
    });
    document.querySelectorAll('.suite').forEach(function (s) {
      s.hidden = !s.querySelector('tr[data-outcome]:not([hidden])');
    });
    count.textContent = shown + ' of ' + rows.length + ' tests shown';
  }
  q.addEventListener('input', apply);
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  apply();
})();
