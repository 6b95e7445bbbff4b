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
// The backbone filter of a task page: hides this suite's rows of other backbones (reference rows stay) and moves
// the ★ to the best row shown. Driven by the URL fragment (#backbone=cgcnn) so a link can ask for one backbone.
(function () {
  var select = document.getElementById('backbone-filter');
  if (!select) return;
  function fragment() {
    var out = {};
    window.location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i > 0) out[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
    });
    return out;
  }
  var bodies = Array.prototype.slice.call(document.querySelectorAll('table.board tbody.ours'));
  // the server's ★ (best over every backbone), restored when all backbones are shown again
  var serverBest = bodies.map(function (b) { return Array.prototype.slice.call(b.querySelectorAll('td.best')); });
  function restar(tbody, higher) {
    var rows = Array.prototype.filter.call(tbody.rows, function (r) { return !r.hidden; });
    if (!rows.length) return;
    for (var j = 0; j < rows[0].cells.length; j++) {
      var best = null;
      rows.forEach(function (r) {
        var c = r.cells[j];
        if (!c || !c.classList.contains('num') || c.getAttribute('data-sort') === '') return;
        var v = parseFloat(c.getAttribute('data-sort'));
        if (isFinite(v) && (best === null || (higher ? v > best : v < best))) best = v;
      });
      rows.forEach(function (r) {
        var c = r.cells[j];
        if (best !== null && c && c.classList.contains('num') && parseFloat(c.getAttribute('data-sort')) === best) {
          c.classList.add('best');
        }
      });
    }
  }
  function apply(value) {
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === value; });
    if (!known) value = 'all';
    select.value = value;
    bodies.forEach(function (tbody, k) {
      var higher = tbody.parentNode.getAttribute('data-higher-is-better') === 'true';
      Array.prototype.forEach.call(tbody.rows, function (r) {
        if (r.classList.contains('none')) return;
        var backbone = r.cells[0].textContent.trim().toLowerCase();
        if (value === 'all' || backbone === value) r.removeAttribute('hidden'); else r.setAttribute('hidden', '');
      });
      Array.prototype.forEach.call(tbody.querySelectorAll('td.best'), function (c) { c.classList.remove('best'); });
      if (value === 'all') serverBest[k].forEach(function (c) { c.classList.add('best'); });
      else restar(tbody, higher);
    });
    document.body.setAttribute('data-backbone-filter', value);
  }
  select.addEventListener('change', function () {
    apply(select.value);
    window.location.hash = select.value === 'all' ? '' : 'backbone=' + encodeURIComponent(select.value);
  });
  window.addEventListener('hashchange', function () { apply(fragment().backbone || 'all'); });
  apply(fragment().backbone || 'all');
})();
