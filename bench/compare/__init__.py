"""``bench compare --task T``: which transfer strategy for this data, measured. ``candidates`` (what to run:
``STRATEGY[:SOURCE][@BACKBONE]``), ``engine`` (the cells, run through ``bench.sweep``, and their records),
``estimate`` (the time it will take), ``stats`` (paired differences to scratch, intervals, the
recommendation), ``report`` (terminal table, ``compare.json``, the HTML page). docs/compare.md explains it."""
