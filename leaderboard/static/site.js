(function () {
  function key(cell) {
    if (!cell) return null;
    var v = cell.getAttribute('data-sort');
    if (v === null) v = cell.textContent.trim();
    if (v === '' || v === '—') return null;
    var n = parseFloat(v);
    return (!isNaN(n) && isFinite(n) && /^[-+]?[0-9.]/.test(v)) ? n : v.toLowerCase();
  }
  function compare(a, b) {
    if (a === null && b === null) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === 'number' ? -1 : 1;
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, idx) {
      th.title = th.title || 'click to sort';
      th.addEventListener('click', function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        Array.prototype.forEach.call(table.tBodies, function (tbody) {
          var rows = Array.prototype.slice.call(tbody.rows);
          rows.sort(function (r1, r2) {
            var a = key(r1.cells[idx]), b = key(r2.cells[idx]);
            if (a === null || b === null) return compare(a, b);
            return asc ? compare(a, b) : compare(b, a);
          });
          rows.forEach(function (r) { tbody.appendChild(r); });
        });
      });
    });
    table.setAttribute('data-sortable', 'ready');
    // a link can ask for a sorted view: page.html#sort=3 (column index), #sort=3-desc
    var m = /^#sort=(\d+)(-desc)?$/.exec(window.location.hash);
    if (m && headers[+m[1]]) {
      headers[+m[1]].click();
      if (m[2]) headers[+m[1]].click();
    }
  });
  window.addEventListener('load', function () {
    var imgs = document.querySelectorAll('img.plot');
    var ok = Array.prototype.filter.call(imgs, function (i) { return i.complete && i.naturalWidth > 0; });
    document.body.setAttribute('data-plots-rendered', ok.length + '/' + imgs.length);
  });
})();
